"""Triggered operation with a real broker: the PLC announces parts on .../trigger, a software-triggered
camera takes one picture per trigger, and every announced part gets exactly one verdict carrying its
part_id, in seq order; a part the camera misses, and a trigger the broker delivers too late, become FAULT
verdicts with that part_id (reject on timeout)."""

from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from contract_schemas import validate_message
from helpers.daemon_process import wait_for, write_config
from paho.mqtt.enums import CallbackAPIVersion

from edge_inspector.capture.base import FrameSource, ReadResult
from edge_inspector.config import load_config
from edge_inspector.service.daemon import Daemon
from edge_inspector.synth import render_line_video

pytestmark = pytest.mark.integration


class SoftwareTriggeredCamera(FrameSource):
    """Delivers one frame per trigger() (like a GenICam camera in TriggerMode On / TriggerSoftware) and
    misses every `miss_every`-th trigger, as a camera that drops a frame would."""

    live = True

    def __init__(self, images: list[np.ndarray], miss_every: int) -> None:
        self.images, self.miss_every = images, miss_every
        self._fired: queue.Queue[int] = queue.Queue()
        self.triggers = 0

    def trigger(self) -> None:
        self.triggers += 1
        if self.triggers % self.miss_every:
            self._fired.put(self.triggers)

    def open(self) -> None:
        """Nothing to open."""

    def read(self) -> ReadResult:
        try:
            n = self._fired.get(timeout=0.1)
        except queue.Empty:
            return ReadResult("idle")
        return ReadResult("frame", self.images[n % len(self.images)], n, f"cam_frame_{n:06d}")

    def close(self) -> None:
        """Nothing to release."""

    def describe(self) -> str:
        return "software-triggered test camera"


def test_every_announced_part_gets_one_verdict_with_its_part_id(tmp_path: Path, trained_model: Any,
                                                                 mosquitto_broker: Any, mqtt_subscriber: Any) -> None:
    model_dir, category, size = trained_model
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=6, defect_rate=0.5, size=size, seed=5)
    cap = cv2.VideoCapture(str(video))
    images = [img for ok, img in iter(cap.read, (False, None)) if ok]
    cap.release()
    camera = SoftwareTriggeredCamera(images, miss_every=3)
    config = write_config(tmp_path / "config.yaml", model_dir=model_dir, broker=mosquitto_broker, station="trig",
                          source={"kind": "video", "path": "unused.avi", "idle_ok": True},
                          trigger={"mode": "mqtt", "window_ms": 300})
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/trig/#")
    daemon = Daemon(load_config(config), source=camera)
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    thread.start()
    plc = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="ei-test-plc")
    plc.connect(mosquitto_broker.host, mosquitto_broker.port)
    plc.loop_start()
    try:
        assert wait_for(lambda: any(t.endswith("/status") for t, _ in list(sub.messages)), 30.0), "daemon online"
        time.sleep(0.5)  # the trigger subscription follows the connection
        parts = [f"P-{n}" for n in range(1, 10)]
        for part in parts:
            plc.publish("ei-rel/trig/trigger", json.dumps({"part_id": part}), qos=1).wait_for_publish(5)
            time.sleep(0.45)  # one part at a time: longer than the window
        plc.publish("ei-rel/trig/trigger", json.dumps({"part_id": "P-late", "ts": time.time() - 60}),
                    qos=1).wait_for_publish(5)
        plc.publish("ei-rel/trig/trigger", b'{"part": 1}', qos=1).wait_for_publish(5)  # refused, no verdict

        def verdicts() -> list[dict[str, Any]]:
            return [p for t, p in list(sub.messages) if t.endswith("/verdict")]

        assert wait_for(lambda: len(verdicts()) >= 10, 30.0), [v["part_id"] for v in verdicts()]
        time.sleep(1.0)  # nothing more may come
        got = verdicts()
        by_part = {v["part_id"]: v for v in got}
        assert sorted(by_part, key=str) == sorted([*parts, "P-late"]) and len(got) == 10, "one verdict per part"
        assert [v["seq"] for v in got] == list(range(got[0]["seq"], got[0]["seq"] + 10)), "in seq order, no gap"
        for n, part in enumerate(parts, start=1):
            v = by_part[part]
            if n % 3 == 0:  # the camera missed it
                assert (v["verdict"], v["score"], v["source_index"]) == ("FAULT", None, -1)
                assert v["reason"] == f"no frame within 300 ms of the trigger for part {part}"
            else:
                assert v["verdict"] in ("PASS", "FAIL") and v["frame"] == f"cam_frame_{n:06d}", v
        late = by_part["P-late"]
        assert late["verdict"] == "FAULT" and "arrived 60" in late["reason"]
        rejects = [p["part_id"] for t, p in list(sub.messages) if t.endswith("/reject")]
        assert {"P-3", "P-6", "P-9", "P-late"} <= set(rejects), "the reject actuator fires for missed parts"
        assert camera.triggers == 9, "each PLC trigger fired the camera once"
    finally:
        plc.disconnect()
        plc.loop_stop()
        daemon.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert daemon.summary.trigger_timeouts == 4
    for topic, payload in sub.messages:
        if payload == {"part": 1}:  # the malformed trigger the test sent: the schema refuses it too
            with pytest.raises(AssertionError, match="part_id"):
                validate_message(topic, payload)
            continue
        validate_message(topic, payload)
