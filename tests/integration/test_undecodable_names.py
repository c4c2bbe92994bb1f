"""A file name that is not valid UTF-8 (a lone surrogate once Python decodes it) still gets its verdict.

Before, encoding the verdict raised UnicodeEncodeError outside the sinks' guard: the inspection loop ended
and that part got no verdict at all. Now the name is sent with the undecodable byte escaped and the part is
judged like any other, through `edge-inspector run` as systemd starts it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from contract_schemas import validate_message
from helpers.daemon_process import DaemonProcess, write_config

from edge_inspector.synth.defects import render_sample

pytestmark = pytest.mark.integration


def test_a_non_utf8_file_name_is_judged_and_the_line_goes_on(tmp_path: Path, trained_model: Any,
                                                             mosquitto_broker: Any, mqtt_subscriber: Any) -> None:
    model_dir, category, size = trained_model
    folder = tmp_path / "parts"
    folder.mkdir()
    rng = np.random.default_rng(7)
    names = [b"01_good.png", b"02_part_\xff\xfe.png", b"03_good.png"]
    for name in names:
        ok, png = cv2.imencode(".png", render_sample(category, rng, size=size).image)
        assert ok
        with open(os.path.join(os.fsencode(folder), name), "wb") as f:
            f.write(png.tobytes())
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/names/#")
    config = write_config(tmp_path / "config.yaml", model_dir=model_dir, broker=mosquitto_broker, station="names",
                          source={"kind": "folder", "path": str(folder)})
    daemon = DaemonProcess(config).start()
    assert daemon.wait(timeout=180) == 0, daemon.output()[-3000:]
    got = sub.wait_for(3, 15, where=lambda t, p: t.endswith("/verdict"))
    for topic, payload in got:
        validate_message(topic, payload)
    verdicts = [p for t, p in got if t.endswith("/verdict")]
    assert [v["seq"] for v in verdicts] == [0, 1, 2]
    assert verdicts[1]["frame"] == "02_part_\\udcff\\udcfe.png"
    assert all(v["verdict"] in ("PASS", "FAIL") and v["score"] is not None for v in verdicts), verdicts
    assert "Traceback" not in daemon.output()
