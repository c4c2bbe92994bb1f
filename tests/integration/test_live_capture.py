"""A real MJPEG-over-HTTP camera (tests/helpers/mjpeg_server.py) read by OpenCV's FFmpeg backend.

A camera that loses power (SIGKILL) or hangs (--quiet-after) must never produce a DroppedFrame: no part
was lost, so there is nothing to reject. The capture reports it through health() and reconnects.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from helpers.mjpeg_server import MjpegServer  # tests/ is on sys.path (see tests/contract_schemas.py)

from edge_inspector.capture import CaptureHealth, CaptureThread, UrlSource
from edge_inspector.types import Frame

pytestmark = pytest.mark.integration

STALL_SECONDS = 1.5
READ_TIMEOUT_MS = 1000
OPEN_TIMEOUT_MS = 1000


class LiveCapture:
    """CaptureThread on a UrlSource, with a consumer that keeps up and a poller sampling health()."""

    def __init__(self, url: str) -> None:
        self.source = UrlSource(url, open_timeout_ms=OPEN_TIMEOUT_MS, read_timeout_ms=READ_TIMEOUT_MS)
        self.source.open()
        self.queue: queue.Queue[object] = queue.Queue(maxsize=4)
        self.stop = threading.Event()
        self.thread = CaptureThread(self.source, self.queue, self.stop, stall_seconds=STALL_SECONDS,
                                    reconnect_seconds=0.5, max_consecutive_failures=50)
        self.frames: list[Frame] = []
        self.samples: list[tuple[float, CaptureHealth]] = []  # (monotonic, health) every 20 ms
        self._helpers = [threading.Thread(target=self._consume, daemon=True),
                         threading.Thread(target=self._poll, daemon=True)]

    def __enter__(self) -> LiveCapture:
        self.thread.start()
        for helper in self._helpers:
            helper.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(OPEN_TIMEOUT_MS / 1000 + 3)
        for helper in self._helpers:
            helper.join(2)
        assert not self.thread.is_alive(), "the capture thread must stop within the open timeout"

    def _consume(self) -> None:
        while not self.stop.is_set():
            try:
                item = self.queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(item, Frame):
                self.frames.append(item)

    def _poll(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.monotonic(), self.thread.health()))
            time.sleep(0.02)

    def states(self, since: float = 0.0) -> list[str]:
        """States sampled since `since`, consecutive repeats collapsed."""
        seen: list[str] = []
        for t, h in list(self.samples):
            if t >= since and (not seen or seen[-1] != h.state):
                seen.append(h.state)
        return seen

    def wait(self, what: Callable[[], bool], timeout: float, message: str) -> float:
        """Seconds until `what` holds; fails the test after `timeout`."""
        start = time.monotonic()
        while not what():
            if time.monotonic() - start > timeout:
                raise AssertionError(f"{message} within {timeout} s; states {self.states()}, "
                                     f"health {self.thread.health()}")
            time.sleep(0.01)
        return time.monotonic() - start


def capture_log(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [m for r in caplog.records if r.name.startswith("edge_inspector.capture") and text in (m := r.getMessage())]


@pytest.fixture
def camera() -> Iterator[MjpegServer]:
    server = MjpegServer(fps=20, size=64).start()
    yield server
    server.kill()


def test_camera_power_loss_reconnects_without_a_single_fault(camera: MjpegServer,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge_inspector.capture")
    with LiveCapture(camera.url) as live:
        live.wait(lambda: len(live.frames) >= 10 and live.thread.health().state == "running", 10, "no frames")
        camera.kill()
        killed_at, frames_before = time.monotonic(), len(live.frames)
        noticed = live.wait(lambda: live.thread.health().state in ("stalled", "reconnecting"), STALL_SECONDS + 1,
                            "the lost stream was not noticed")
        time.sleep(4.0 - noticed)  # the camera stays off for about 4 s
        outage = live.thread.health()
        assert outage.state == "reconnecting" and "reopen failed: cannot open stream" in outage.detail
        assert outage.last_frame_age is not None and outage.last_frame_age > 3.5
        assert outage.heartbeat_age < 1.0  # the loop is alive: refused connections fail at once
        assert len(live.frames) <= frames_before + 2
        with MjpegServer(port=camera.port, fps=20, size=64):  # power is back, same address
            back = live.wait(lambda: len(live.frames) >= frames_before + 10, 10, "frames did not resume")
            stats, states = live.thread.stats(), live.states(since=killed_at)
            logged = {text: len(capture_log(caplog, text)) for text in
                      ("capture stalled", "capture reconnecting", "reopen failed", "capture running")}
    assert live.thread.take_dropped() == [], "a lost stream is not a lost part: no FAULT verdicts"
    assert [f.seq for f in live.frames] == list(range(len(live.frames))), "no gaps in the numbering"
    assert "reconnecting" in states and states[-1] == "running", states
    assert set(states) <= {"running", "stalled", "reconnecting"}, states
    assert stats.read_failures >= 1 and stats.reconnects >= 1 and stats.dropped_queue_full == stats.unreadable == 0
    # every change logged once: one stall, one reconnect, one repeated reopen error, no line per failed read
    assert logged == {"capture stalled": 1, "capture reconnecting": 1, "reopen failed": 1, "capture running": 2}
    print(f"lost stream noticed after {noticed:.3f} s, frames resumed {back:.2f} s after restart, "
          f"{stats.read_failures} failed reads, {stats.reconnects} reconnect(s)")


def test_hung_camera_is_reported_stalled_without_faults(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge_inspector.capture")
    with MjpegServer(fps=20, size=64, quiet_after=30) as camera, LiveCapture(camera.url) as live:
        live.wait(lambda: len(live.frames) >= 30, 10, "the first 30 frames did not arrive")
        silent_from = time.monotonic()
        stalled_after = live.wait(lambda: live.thread.health().state in ("stalled", "reconnecting"),
                                  STALL_SECONDS + READ_TIMEOUT_MS / 1000 + 1.0, "the hung stream was not noticed")
        live.wait(lambda: "reopen failed" in live.thread.health().detail, 5, "no reopen attempt")
        time.sleep(1.0)
        health = live.thread.health()
        stats = live.thread.stats()
    assert len(live.frames) == 30 and live.thread.take_dropped() == [], "a silent camera produced no part"
    assert capture_log(caplog, "capture stalled"), "the stall is logged"
    assert health.state == "reconnecting" and "cannot open stream" in health.detail
    assert health.last_frame_age is not None and health.last_frame_age > STALL_SECONDS
    # heartbeat: grows while read() waits for the silent stream, but the read timeout bounds it
    silent = [h.heartbeat_age for t, h in live.samples if t >= silent_from]
    bound = max(READ_TIMEOUT_MS, OPEN_TIMEOUT_MS) / 1000 + 0.5
    assert 0.5 < max(silent) < bound, f"heartbeat age peaked at {max(silent):.2f} s"
    assert stats.read_failures >= 1 and stats.unreadable == stats.unsupported == 0
    print(f"silence reported after {stalled_after:.3f} s, heartbeat age peaked at {max(silent):.2f} s")
