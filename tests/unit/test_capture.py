"""Capture with real files written by OpenCV: ordering, end of stream, drops, unreadable frames, stop."""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_inspector.capture import (
    END_OF_STREAM,
    CaptureThread,
    ImageFolderSource,
    SourceError,
    VideoFileSource,
    open_source,
)
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
