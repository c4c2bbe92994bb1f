"""Capture with real files written by OpenCV: ordering, end of stream, drops, unreadable and unsupported frames,
stop; live-source failures, stalls and health with scripted FrameSources (no OpenCV mocks)."""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_inspector.capture import (
    END_OF_STREAM,
    CaptureThread,
    FrameSource,
    ImageFolderSource,
    ReadResult,
    SourceError,
    UrlSource,
    VideoFileSource,
    open_source,
)
from edge_inspector.capture.sources import ffmpeg_timeouts
from edge_inspector.config import SourceConfig
from edge_inspector.types import Frame


def write_video(path: Path, n: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 25.0, (64, 48))
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((48, 64, 3), (i * 8) % 256, np.uint8))
    writer.release()
    return path


def drain(q: queue.Queue[object], timeout: float = 10.0) -> list[object]:
    items: list[object] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = q.get(timeout=timeout)
        items.append(item)
        if item is END_OF_STREAM:
            return items
    raise AssertionError("no END_OF_STREAM")


def run_capture(source, **kw):  # type: ignore[no-untyped-def]
    q: queue.Queue[object] = queue.Queue(maxsize=kw.pop("queue_size", 4))
    stop = threading.Event()
    source.open()
    thread = CaptureThread(source, q, stop, **kw)
    thread.start()
    return thread, q, stop


def test_video_frames_arrive_in_order_then_end(tmp_path: Path) -> None:
    thread, q, _ = run_capture(VideoFileSource(write_video(tmp_path / "v.avi", 20)))
    items = drain(q)
    frames = [i for i in items if isinstance(i, Frame)]
    assert items[-1] is END_OF_STREAM
    assert [f.seq for f in frames] == list(range(20))
    assert [f.source_index for f in frames] == list(range(20))
    grey = [int(round(f.image.mean() / 8)) for f in frames]
    assert grey == list(range(20)), "frames decoded in file order"
    assert frames[3].name == "frame_000003"
    thread.join(2)
    assert thread.stats().frames_queued == 20 and thread.error is None


def test_looping_video_keeps_going_until_stopped_even_with_full_queue(tmp_path: Path) -> None:
    thread, q, stop = run_capture(VideoFileSource(write_video(tmp_path / "v.avi", 5), loop=True), queue_size=2)
    seen = [q.get(timeout=5) for _ in range(12)]
    assert [f.seq for f in seen] == list(range(12))  # type: ignore[attr-defined]
    stop.set()  # nobody reads any more; the thread must not hang on the full queue
    thread.join(2)
    assert not thread.is_alive()


def test_image_folder_natural_order_grey_and_corrupt_files(tmp_path: Path) -> None:
    for i in (10, 2, 1):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((8, 8, 3), i, np.uint8))
    cv2.imwrite(str(tmp_path / "3.png"), np.full((8, 8), 3, np.uint8))  # grayscale
    (tmp_path / "5.png").write_bytes(b"not a png at all")
    (tmp_path / "notes.txt").write_text("ignored")
    thread, q, _ = run_capture(ImageFolderSource(tmp_path))
    items = drain(q)
    thread.join(2)
    frames = [i for i in items if isinstance(i, Frame)]
    assert [f.name for f in frames] == ["1.png", "2.png", "3.png", "10.png"]
    assert all(f.image.shape == (8, 8, 3) for f in frames)
    dropped = thread.take_dropped()
    assert [(d.seq, d.name) for d in dropped] == [(3, "5.png")]
    assert "cannot decode 5.png" in dropped[0].reason
    assert sorted([f.seq for f in frames] + [d.seq for d in dropped]) == list(range(5))
    assert thread.stats().unreadable == 1


def test_realtime_pacing_never_blocks_and_numbers_drops(tmp_path: Path) -> None:
    thread, q, _ = run_capture(VideoFileSource(write_video(tmp_path / "v.avi", 30)),
                               pacing="realtime", fps=500.0, queue_size=2)
    deadline = time.monotonic() + 5
    while thread.stats().frames_read + thread.stats().unreadable < 30 and time.monotonic() < deadline:
        time.sleep(0.02)  # nobody consumes: the reader must not block on the full queue
    assert thread.stats().frames_read == 30
    queued = drain(q)  # only the end marker waits for space, so the consumer cannot miss the end
    thread.join(2)
    assert not thread.is_alive()
    frames = [i for i in queued if isinstance(i, Frame)]
    dropped = thread.take_dropped()
    assert thread.stats().dropped_queue_full == len(dropped) > 0
    assert sorted([f.seq for f in frames] + [d.seq for d in dropped]) == list(range(30))
    assert all("queue full" in d.reason for d in dropped)


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (SourceConfig(kind="video", path=Path("/nonexistent/line.avi")), "video file not found: /nonexistent/line.avi"),
        (SourceConfig(kind="folder", path=Path("/nonexistent")), "image folder not found: /nonexistent"),
        (SourceConfig(kind="video", path=None), "source.path"),
        (SourceConfig(kind="camera"), "source.device"),
        (SourceConfig(kind="url"), "source.url"),
    ],
)
def test_open_source_errors_name_the_target(cfg: SourceConfig, message: str) -> None:
    with pytest.raises((SourceError, ValueError), match=message):
        open_source(cfg)


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=f"no images .* in folder {tmp_path}"):
        open_source(SourceConfig(kind="folder", path=tmp_path))


def test_folder_with_16bit_grey_empty_and_fake_pngs_converts_or_drops_in_order(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "1.png"), np.full((8, 8, 3), (10, 20, 30), np.uint8))
    sixteen = np.full((8, 8, 3), 2048, np.uint16)  # a 12-bit camera: 2048 >> 4 = 128 whatever the frame's max
    sixteen[0, 0] = 4095
    cv2.imwrite(str(tmp_path / "2.png"), sixteen)
    cv2.imwrite(str(tmp_path / "3.png"), np.full((8, 8), 1024, np.uint16))  # 16-bit grey: 1024 >> 4 = 64
    cv2.imwrite(str(tmp_path / "4.png"), np.full((8, 8), 77, np.uint8))  # 8-bit grey
    (tmp_path / "5.png").write_bytes(b"")  # zero bytes
    (tmp_path / "6.png").write_text("a text file named .png\n")
    cv2.imwrite(str(tmp_path / "7.png"), np.full((8, 8, 3), 99, np.uint8))
    thread, q, _ = run_capture(ImageFolderSource(tmp_path), bit_depth=12)
    items = drain(q)
    thread.join(2)
    assert not thread.is_alive() and thread.error is None and items[-1] is END_OF_STREAM
    frames = [i for i in items if isinstance(i, Frame)]
    assert [(f.seq, f.name) for f in frames] == [(0, "1.png"), (1, "2.png"), (2, "3.png"), (3, "4.png"), (6, "7.png")]
    assert all(f.image.shape == (8, 8, 3) and f.image.dtype == np.uint8 for f in frames)
    assert frames[0].image[4, 4].tolist() == [10, 20, 30]
    assert frames[1].image[4, 4].tolist() == [128, 128, 128] and frames[1].image[0, 0].tolist() == [255, 255, 255]
    assert frames[2].image[4, 4].tolist() == [64, 64, 64]
    assert frames[3].image[4, 4].tolist() == [77, 77, 77]
    dropped = thread.take_dropped()
    assert [(d.seq, d.name, d.kind) for d in dropped] == [(4, "5.png", "unreadable"), (5, "6.png", "unreadable")]
    assert all(d.reason.startswith("unreadable: cannot decode") for d in dropped)
    stats = thread.stats()
    assert (stats.frames_read, stats.unreadable, stats.unsupported, stats.read_failures) == (5, 2, 0, 0)
    assert thread.health().state == stats.state == "ended"


def test_unconvertible_files_become_unsupported_drops_and_capture_goes_on(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "1.tiff"), np.full((4, 4), 0.5, np.float32))  # float in [0, 1]: converts
    cv2.imwrite(str(tmp_path / "2.tiff"), np.full((4, 4), 1.5, np.float32))  # float outside [0, 1]
    cv2.imwrite(str(tmp_path / "3.tiff"), np.zeros((4, 4, 3), np.int16))  # signed 16-bit
    cv2.imwrite(str(tmp_path / "4.png"), np.full((4, 4, 3), 5, np.uint8))
    thread, q, _ = run_capture(ImageFolderSource(tmp_path))
    items = drain(q)
    thread.join(2)
    assert thread.error is None
    frames = [i for i in items if isinstance(i, Frame)]
    assert [(f.seq, f.name) for f in frames] == [(0, "1.tiff"), (3, "4.png")]
    assert frames[0].image[0, 0].tolist() == [128, 128, 128]
    dropped = thread.take_dropped()
    assert [(d.seq, d.name, d.kind) for d in dropped] == [(1, "2.tiff", "unsupported"), (2, "3.tiff", "unsupported")]
    assert dropped[0].reason.startswith("unsupported frame: expected float values in [0, 1]")
    assert "got shape (4, 4) dtype float32" in dropped[0].reason
    assert "got shape (4, 4, 3) dtype int16" in dropped[1].reason
    assert thread.stats().unsupported == 2 and thread.stats().unreadable == 0


class ScriptedSource(FrameSource):
    """A real FrameSource that plays a script: images, failed reads ("fail"), a hang ("hang"), then the end.

    open() fails `open_failures` times after the first open (a camera that takes a while to come back).
    """

    def __init__(self, script: Sequence[object], live: bool = True, open_failures: int = 0) -> None:
        self.script, self.live, self.open_failures = list(script), live, open_failures
        self.opens = 0
        self.released = threading.Event()

    def open(self) -> None:
        self.opens += 1
        if self.opens > 1 and self.open_failures > 0:
            self.open_failures -= 1
            raise SourceError("cannot open scripted camera")

    def read(self) -> ReadResult:
        if not self.script:
            return ReadResult("end")
        step = self.script.pop(0)
        if isinstance(step, np.ndarray):
            return ReadResult("frame", step, 0, "scripted")
        if step == "hang":
            self.released.wait()  # like a camera whose read() never returns
        if step == "raise":
            raise OSError("device gone")
        return ReadResult("failed", reason="read failed")

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return "scripted camera"


class ExplodingImage(np.ndarray):
    """An array whose size cannot be read: an error no conversion rule foresees."""

    @property
    def size(self) -> int:  # type: ignore[override]
        raise RuntimeError("driver bug")


def test_an_error_building_one_frame_drops_that_frame_only() -> None:
    good = np.zeros((4, 4, 3), np.uint8)
    bad = np.zeros((4, 4, 3), np.uint8).view(ExplodingImage)
    thread, q, _ = run_capture(ScriptedSource([good, bad, np.zeros((4, 4, 2), np.uint8), good], live=False))
    items = drain(q)
    thread.join(2)
    assert thread.error is None
    assert [i.seq for i in items if isinstance(i, Frame)] == [0, 3]
    dropped = thread.take_dropped()
    assert [(d.seq, d.kind) for d in dropped] == [(1, "unsupported"), (2, "unsupported")]
    assert "RuntimeError('driver bug')" in dropped[0].reason
    assert dropped[1].reason == ("unsupported frame: expected HxW or HxWxC (C = 1, 3 or 4), "
                                 "got shape (4, 4, 2) dtype uint8")


def wait_until(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_failed_live_reads_are_counted_never_dropped_and_reopen_the_source(
        caplog: pytest.LogCaptureFixture) -> None:
    frame = np.zeros((4, 4, 3), np.uint8)
    source = ScriptedSource([frame, frame] + ["fail"] * 12 + [frame, frame], open_failures=3)
    caplog.set_level(logging.INFO, logger="edge_inspector.capture")
    thread, q, stop = run_capture(source, max_consecutive_failures=5, reconnect_seconds=0.05, stall_seconds=30)
    frames = [q.get(timeout=5) for _ in range(4)]
    stop.set()
    thread.join(2)
    assert [f.seq for f in frames] == [0, 1, 2, 3]  # type: ignore[attr-defined]
    assert thread.take_dropped() == []  # no frame was lost: nothing to report as FAULT
    stats = thread.stats()
    # 5 failures -> reopen (3 refused, 1 works) -> 5 more -> reopen -> 2 more failures, then frames
    assert (stats.read_failures, stats.reconnects, stats.unreadable) == (12, 2, 0)
    assert source.opens == 1 + 4 + 1
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("edge_inspector.capture")]
    assert sum("capture stalled" in m for m in messages) == 2  # once per stall, not once per failed read
    assert sum("reopen failed" in m for m in messages) == 1  # the same error is not repeated per attempt
    assert sum("capture running" in m for m in messages) == 2  # first frames, then back after the outage


def test_a_read_that_never_returns_is_seen_as_stalled_and_the_heartbeat_stops() -> None:
    frame = np.zeros((4, 4, 3), np.uint8)
    source = ScriptedSource([frame, "hang"])
    thread, q, stop = run_capture(source, stall_seconds=0.5)
    assert thread.health().state in ("starting", "running")
    q.get(timeout=5)
    assert wait_until(lambda: thread.health().state == "stalled", timeout=3)
    health = thread.health()
    assert health.last_frame_age is not None and health.last_frame_age >= 0.5
    assert health.heartbeat_age >= 0.45 and health.detail.startswith("no frame for")
    time.sleep(0.3)
    assert thread.health().heartbeat_age >= health.heartbeat_age + 0.25  # grows while read() hangs
    stop.set()
    source.released.set()
    thread.join(2)
    assert not thread.is_alive() and thread.health().state == "ended"


def test_idle_ok_source_waiting_for_parts_is_idle_not_stalled() -> None:
    frame = np.zeros((4, 4, 3), np.uint8)
    source = ScriptedSource([frame] + ["fail"] * 3 + [frame, "hang"])
    thread, q, stop = run_capture(source, stall_seconds=0.3, idle_ok=True)
    assert wait_until(lambda: thread.health().state == "idle", timeout=3)
    stop.set()
    source.released.set()
    thread.join(2)
    assert source.opens == 1 and thread.stats().reconnects == 0 and thread.take_dropped() == []


def test_health_before_the_first_frame_and_a_failed_thread() -> None:
    q: queue.Queue[object] = queue.Queue(maxsize=4)
    thread = CaptureThread(ScriptedSource(["raise"], live=False), q, threading.Event())
    health = thread.health()
    assert (health.state, health.last_frame_age) == ("starting", None) and health.heartbeat_age < 1
    thread.start()
    assert drain(q)[-1] is END_OF_STREAM  # a file source that raises ends capture, and says why
    thread.join(2)
    health = thread.health()
    assert health.state == "failed" and "OSError('device gone')" in health.detail
    assert isinstance(thread.error, OSError)


def test_a_live_source_that_raises_is_a_failed_read_not_a_dead_thread() -> None:
    frame = np.zeros((4, 4, 3), np.uint8)
    thread, q, stop = run_capture(ScriptedSource([frame, "raise", "raise", frame]), max_consecutive_failures=5)
    assert [q.get(timeout=5).seq for _ in range(2)] == [0, 1]  # type: ignore[attr-defined]
    stop.set()
    thread.join(2)
    assert thread.error is None and thread.stats().read_failures == 2 and thread.take_dropped() == []


def test_url_source_gets_the_configured_ffmpeg_timeouts() -> None:
    assert ffmpeg_timeouts(1500, 700) == [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 1500, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 700]
    with socket.socket() as s:  # a port nobody listens on: refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = SourceConfig(kind="url", url=f"http://127.0.0.1:{port}/stream.mjpg", open_timeout_ms=1500)
    with pytest.raises(SourceError, match=f"cannot open stream http://127.0.0.1:{port}/stream.mjpg"):
        open_source(cfg)
    source = UrlSource("http://x", open_timeout_ms=1500, read_timeout_ms=700)
    assert (source.open_timeout_ms, source.read_timeout_ms) == (1500, 700)


def jpeg_starts(data: bytes) -> list[int]:
    return [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]


def test_video_with_a_corrupt_frame_faults_that_frame_and_a_truncated_video_just_ends(tmp_path: Path) -> None:
    data = write_video(tmp_path / "v.avi", 20).read_bytes()
    starts = jpeg_starts(data)  # MJPG: one JPEG per frame
    assert len(starts) == 20
    corrupt = bytearray(data)
    corrupt[starts[8]:starts[9] - 8] = bytes(starts[9] - 8 - starts[8])  # frame 8's JPEG zeroed
    (tmp_path / "corrupt.avi").write_bytes(corrupt)
    (tmp_path / "cut.avi").write_bytes(data[:starts[12] + 40])  # the file ends inside frame 12
    thread, q, _ = run_capture(VideoFileSource(tmp_path / "corrupt.avi"))
    items = drain(q)
    thread.join(2)
    frames = [i for i in items if isinstance(i, Frame)]
    assert [f.source_index for f in frames] == [i for i in range(20) if i != 8]
    assert [int(round(f.image.mean() / 8)) for f in frames] == [f.source_index for f in frames]
    dropped = thread.take_dropped()
    assert [(d.seq, d.source_index, d.kind) for d in dropped] == [(8, 8, "unreadable")]
    assert dropped[0].reason == "unreadable: undecodable frame (read failed)"
    thread, q, _ = run_capture(VideoFileSource(tmp_path / "cut.avi"))
    items = drain(q)
    thread.join(2)
    assert [i.source_index for i in items if isinstance(i, Frame)] == list(range(12))  # type: ignore[attr-defined]
    assert thread.take_dropped() == [] and thread.error is None, "frames the file never had are not FAULTs"


def test_reopening_backs_off_from_reconnect_seconds_up_to_the_cap() -> None:
    from edge_inspector.capture.reconnect import reconnect_delay

    assert [reconnect_delay(a, 2.0, 30.0) for a in range(7)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert reconnect_delay(10_000, 0.5, 5.0) == 5.0  # no overflow after days of a dead camera


def test_every_numbered_frame_is_told_before_it_is_queued_even_when_the_queue_drops_it(tmp_path: Path) -> None:
    told: list[tuple[int, float, bool]] = []
    q_ref: list[queue.Queue[object]] = []

    def on_numbered(frame: Frame) -> None:  # runs on the capture thread, before the frame is queued
        told.append((frame.seq, frame.captured_at, any(frame is item for item in list(q_ref[0].queue))))

    q: queue.Queue[object] = queue.Queue(maxsize=2)
    q_ref.append(q)
    source = VideoFileSource(write_video(tmp_path / "v.avi", 20))
    source.open()
    thread = CaptureThread(source, q, threading.Event(), pacing="realtime", fps=500.0, on_numbered=on_numbered)
    thread.start()
    deadline = time.monotonic() + 5
    while thread.stats().frames_read < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    drain(q)
    thread.join(2)
    dropped = thread.take_dropped()
    assert len(dropped) > 0  # nobody consumed: most frames were dropped, and were told all the same
    assert [seq for seq, _, _ in told] == list(range(20))
    assert not any(queued for _, _, queued in told)
    assert all(abs(ts - time.time()) < 60 for _, ts, _ in told)


def test_a_failing_numbered_hook_costs_no_frame(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def broken(frame: Frame) -> None:
        raise OSError("broker socket closed")

    with caplog.at_level(logging.WARNING):
        thread, q, _ = run_capture(VideoFileSource(write_video(tmp_path / "v.avi", 12)), on_numbered=broken)
        frames = [i for i in drain(q) if isinstance(i, Frame)]
        thread.join(2)
    assert [f.seq for f in frames] == list(range(12))
    assert thread.numbered_failures == 12
    warnings = [r for r in caplog.records if "numbered-frame hook failed" in r.getMessage()]
    assert len(warnings) == 2  # the 1st and the 10th, not one per frame
