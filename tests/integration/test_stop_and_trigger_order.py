"""Every numbered frame gets exactly one verdict, and verdicts leave in seq order (issue 18, item 10).

Two races of the running daemon, each made certain by a real FrameSource subclass that holds the capture thread
at the racy point (no part of the daemon is mocked; the broker is a real Mosquitto):
- a source still inside read() when the daemon stops, which returns a frame after the queue was drained;
- a trigger that expires (its FAULT takes the next seq on the inspection thread) while the capture thread is
  still building the frame with the lower seq.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from helpers.daemon_process import wait_for, write_config
from paho.mqtt.enums import CallbackAPIVersion

from edge_inspector.backends.null_backend import NullBackend
from edge_inspector.capture import CaptureThread, FrameSource, ReadResult
from edge_inspector.config import load_config
from edge_inspector.service.daemon import Daemon
from edge_inspector.types import Inspection

pytestmark = pytest.mark.integration
SIZE = 64


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch", reason="the config's model directory is written with torch")
    from helpers.tiny_model import make_model

    return make_model(tmp_path_factory.mktemp("order-model"), size=SIZE)


def image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)


class ReadBlocksAtStop(FrameSource):
    """A file-like source: `before` frames, then a read that blocks until the test releases it (a camera whose
    driver call hangs across the stop) and returns one more frame."""

    live = False

    def __init__(self, before: int) -> None:
        self.before, self.reads = before, 0
        self.blocked, self.release = threading.Event(), threading.Event()
        self.thread: threading.Thread | None = None

    def open(self) -> None:
        """Nothing to open."""

    def read(self) -> ReadResult:
        self.thread = threading.current_thread()
        self.reads += 1
        if self.reads > self.before:
            self.blocked.set()
            self.release.wait(60.0)
        return ReadResult("frame", image(self.reads), self.reads, f"frame_{self.reads:03d}")

    def close(self) -> None:
        """Nothing to release."""

    def describe(self) -> str:
        return "a source whose read blocks across the stop"


def run_in_thread(daemon: Daemon) -> threading.Thread:
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    thread.start()
    return thread


def test_a_frame_read_after_the_stop_is_not_numbered_so_every_numbered_frame_has_a_verdict(
        tmp_path: Path, model_dir: Path, mosquitto_broker: Any, mqtt_subscriber: Any) -> None:
    source = ReadBlocksAtStop(before=3)
    config = write_config(tmp_path / "c.yaml", model_dir=model_dir, broker=mosquitto_broker, station="late",
                          source={"kind": "video", "path": "unused.avi"}, output={"shutdown_grace": 2.0})
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/late/verdict")
    seen: list[Inspection] = []
    daemon = Daemon(load_config(config), backend=NullBackend((SIZE, SIZE)), source=source, on_inspection=seen.append)
    thread = run_in_thread(daemon)
    try:
        assert wait_for(lambda: len(seen) == 3 and source.blocked.is_set(), 60.0), "three verdicts, then the hang"
        daemon.stop()
        thread.join(60.0)  # the daemon gives up waiting for the capture thread and stops without it
        assert not thread.is_alive()
    finally:
        source.release.set()  # the hung read returns a frame, after the daemon finished
    capture = source.thread
    assert isinstance(capture, CaptureThread)
    capture.join(10.0)
    assert not capture.is_alive()
    assert [i.seq for i in seen] == [0, 1, 2]
    numbered = capture.next_seq()  # the next free number = how many were handed out
    assert numbered == 3, "the frame read after the stop took no seq: no numbered frame is without a verdict"
    assert capture.stats().frames_read == len(seen)
    assert capture.stats().late == 1
    assert [p["seq"] for _, p in sub.wait_for(3, 10.0)] == [0, 1, 2]


class HeldImage(np.ndarray):
    """An image whose first look (its ndim) waits for the test: the capture thread has numbered the frame and is
    still building it, as with a large frame being converted."""

    entered: threading.Event
    gate: threading.Event

    @property  # type: ignore[override]
    def ndim(self) -> int:
        self.entered.set()
        self.gate.wait(60.0)
        return int(np.ndarray.ndim.__get__(self, np.ndarray))


class SlowSecondFrame(FrameSource):
    """Frame 0 at once, frame 1 held in the capture thread after it was numbered, then the end."""

    live = False

    def __init__(self) -> None:
        self.reads = 0
        self.held = image(1).view(HeldImage)
        self.held.entered, self.held.gate = threading.Event(), threading.Event()

    def open(self) -> None:
        """Nothing to open."""

    def read(self) -> ReadResult:
        self.reads += 1
        if self.reads == 1:
            return ReadResult("frame", image(0), 0, "frame_000")
        if self.reads == 2:
            return ReadResult("frame", self.held, 1, "frame_001")
        return ReadResult("end")

    def close(self) -> None:
        """Nothing to release."""

    def describe(self) -> str:
        return "a source whose second frame is slow to build"


def test_a_trigger_timeout_waits_for_the_lower_seq_still_being_built(
        tmp_path: Path, model_dir: Path, mosquitto_broker: Any, mqtt_subscriber: Any) -> None:
    source = SlowSecondFrame()
    config = write_config(tmp_path / "c.yaml", model_dir=model_dir, broker=mosquitto_broker, station="order",
                          source={"kind": "video", "path": "unused.avi"}, trigger={"mode": "mqtt", "window_ms": 200})
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/order/verdict")
    seen: list[Inspection] = []
    daemon = Daemon(load_config(config), backend=NullBackend((SIZE, SIZE)), source=source, on_inspection=seen.append)
    thread = run_in_thread(daemon)
    plc = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="ei-test-order-plc")
    plc.connect(mosquitto_broker.host, mosquitto_broker.port)
    plc.loop_start()
    try:
        assert wait_for(lambda: len(seen) == 1 and source.held.entered.is_set(), 60.0), "seq 1 is being built"
        assert daemon.triggers is not None
        plc.publish("ei-rel/order/trigger", json.dumps({"part_id": "P-77"}), qos=1).wait_for_publish(10.0)
        assert wait_for(lambda: daemon.triggers is not None and daemon.triggers.timed_out == 1, 30.0)
        for _ in range(3):  # a few turns of the inspection loop: time to publish whatever it would publish
            turned = daemon.state.loop_turned
            assert wait_for(lambda t=turned: daemon.state.loop_turned != t, 10.0)  # type: ignore[misc]
        source.held.gate.set()
        thread.join(60.0)
        assert not thread.is_alive()
    finally:
        source.held.gate.set()
        daemon.stop()
        plc.loop_stop()
        plc.disconnect()
    assert [(i.seq, i.part_id) for i in seen] == [(0, None), (1, None), (2, "P-77")], \
        "the FAULT of the timed-out trigger (seq 2) leaves after frame 1"
    assert seen[2].verdict.value == "FAULT"
    assert [p["seq"] for _, p in sub.wait_for(3, 10.0)] == [0, 1, 2]
