"""The scaffolding of the "every door open" tests (test_run_all_doors, test_command_doors, test_doors_fuzz):
a calibrated line, the config sections that open the doors, the dashboard token file, a plain MQTT client
(a PLC, a technician or an attacker), an HTTP GET that never raises, and the check of what the journal gets."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_inspector.config.redact import MAX_MESSAGE
from edge_inspector.synth import render_line_video
from helpers.profile import FIXED, calibrate

LOG_PREFIX = 200  # timestamp, level and logger name in front of a capped message


@dataclass(frozen=True)
class Line:
    """A trained model with a calibration profile in force and a rendered line video (half of it defective)."""

    model_dir: Path
    category: str
    size: int
    profile: Path
    video: Path


def calibrated_line(tmp_path: Path, trained_model: tuple[Path, str, int], n_frames: int, seed: int = 5) -> Line:
    """Calibrate the session's model into tmp_path/cal and render tmp_path/line.avi of n_frames parts."""
    model_dir, category, size = trained_model
    profile = calibrate(model_dir, model_dir.parent / "data" / category, tmp_path / "cal", *FIXED)
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=n_frames, defect_rate=0.5, size=size, seed=seed)
    return Line(model_dir, category, size, profile, video)


def open_doors(profile: Path, window_ms: int, web: int | None = None, tokens: Path | None = None,
               metrics: int | None = None) -> dict[str, Any]:
    """write_config sections: the profile in force, MQTT commands and part triggers, and (given a port) the
    dashboard with its token file and the metrics endpoint."""
    sections: dict[str, Any] = {"inspection": {"profile": str(profile)}, "mqtt": {"commands": True},
                                "trigger": {"mode": "mqtt", "window_ms": window_ms}}
    if web is not None:
        sections["dashboard"] = {"enabled": True, "port": web, "token_file": str(tokens)}
    if metrics is not None:
        sections["metrics"] = {"enabled": True, "port": metrics}
    return sections


def token_file(tmp_path: Path) -> tuple[Path, str]:
    """A dashboard token file only its owner can read (others' read access is refused) and its token."""
    token = secrets.token_hex(16)
    path = tmp_path / "dashboard.token"
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path, token


class Publisher:
    """A plain paho client on the test broker, connected and looping until close()."""

    def __init__(self, broker: Any, name: str) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ei-test-{name}-{secrets.token_hex(4)}")
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def send(self, topic: str, payload: Any, retain: bool = False) -> None:
        """Publish JSON (or bytes as they are) with QoS 1 and wait until the broker has it."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.client.publish(topic, data, qos=1, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def http_get(url: str, token: str | None = None) -> tuple[int, bytes]:
    """(status, body) of a GET with the bearer token; (0, b"") when nothing answers. Never raises."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError:
        return 0, b""


def check_log(text: str, capped: bool = True) -> None:
    """What systemd's journal would get: no traceback, no logging error and (capped) no line past the cap."""
    assert "Traceback" not in text and "--- Logging error ---" not in text, text[-4000:]
    if capped:
        longest = max((len(line) for line in text.splitlines()), default=0)
        assert longest <= MAX_MESSAGE + LOG_PREFIX, f"a log line of {longest} characters"
