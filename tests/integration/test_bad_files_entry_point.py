"""Bad files through the real entry point (issue 17, items 6, 8, 9, 11): `python -m edge_inspector.cli run` and
`validate-config`, as systemd and a technician start them. Each bad file ends the process with exit code 2
(the unit's RestartPreventExitStatus=2, so systemd does not restart it forever) and one short stderr line
naming the file; never a traceback (exit 1, restarted every 2 s)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.daemon_process import write_config

from edge_inspector.publish.broker import free_port

MAX_ERROR = 1000
PROFILE = {
    "schema_version": 1, "product": "cookie", "station": "line1", "revision": 1,
    "created_at": "2026-11-30T12:00:00+00:00", "author": "ana", "reason": "new lighting",
    "model": {"model_id": "scratch-1234", "fingerprint": "abcd:fp32"},
    "policy": {"name": "fixed", "params": {}}, "thresholds": {"image": 0.52, "pixel": 0.48},
    "regions": {"min_area": 30, "min_peak": 0.5}, "samples": {"good": 14, "defect": 0},
    "expected": {"false_reject_rate": 0.0, "false_reject_upper": 0.19, "escape_rate": None, "escape_upper": None},
    "roi": None, "ignore_mask": None, "warnings": [],
}


def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_inspector.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def one_error_line(res: subprocess.CompletedProcess[str], verb: str, *parts: str) -> str:
    """The run exited 2 with one stderr line (after any log lines) that names every part; no traceback."""
    assert res.returncode == 2, res.stderr[-3000:]
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    errors = [line for line in res.stderr.splitlines() if line.startswith(f"edge-inspector {verb}: error:")]
    assert len(errors) == 1, res.stderr[-3000:]
    line = errors[0]
    assert len(line) <= MAX_ERROR + 60, len(line)
    for part in parts:
        assert part in line, (part, line)
    return line


def base_config(tmp_path: Path, model: Path, **sections: object) -> dict[str, object]:
    cfg: dict[str, object] = {"station_id": "doors", "source": {"kind": "folder", "path": str(tmp_path / "parts")},
                              "model": {"path": str(model), "backend": "torch", "device": "cpu"},
                              "mqtt": {"enabled": False}, "output": {"dir": str(tmp_path / "out")}}
    cfg.update(sections)
    return cfg


@pytest.mark.parametrize("verb", ["run", "validate-config"])
def test_a_binary_config_exits_2_with_one_line(tmp_path: Path, verb: str) -> None:
    config = tmp_path / "binary.yaml"
    config.write_bytes(b"station_id: x\n" + bytes(range(128, 256)) * 4)
    args = ["run", "--config", str(config)] if verb == "run" else ["validate-config", str(config)]
    one_error_line(cli(*args), verb, str(config), "line 2", "not UTF-8 text")


def test_an_alias_bomb_config_exits_2_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bomb.yaml"
    config.write_text("station_id: x\n" + "a: &a {" + ", ".join(f"k{k}: x" for k in range(9)) + "}\n" + "".join(
        f"{n}: &{n} {{" + ", ".join(f"k{k}: *{p}" for k in range(9)) + "}\n" for p, n in zip("abcdefgh", "bcdefghi")))
    for args in (["run", "--config", str(config)], ["validate-config", "--skip-model", str(config)]):
        one_error_line(cli(*args), args[0], str(config), "line 2", "anchor &a is not allowed")


def test_a_2_mib_config_exits_2_naming_its_size(tmp_path: Path) -> None:
    config = tmp_path / "big.yaml"
    config.write_text("station_id: x\n# " + "x" * (2 * 1024 * 1024) + "\n")
    one_error_line(cli("run", "--config", str(config)), "run", str(config), f"{config.stat().st_size} bytes",
                   "over the limit of 1048576 bytes")


@pytest.mark.parametrize(("content", "expected"), [
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "profile is not UTF-8 text"),
    (yaml.safe_dump(PROFILE, sort_keys=False).encode() + b"thresholds:\n  image: 0.01\n  pixel: 0.01\n",
     "thresholds: duplicate key (first on line"),
    (yaml.safe_dump({**PROFILE, "warnings": None}, sort_keys=False).replace("warnings: null\n", "").encode()
     + b"w: &w [x, x]\nwarnings: [*w, *w]\n", "anchor &w is not allowed"),
    (yaml.safe_dump({**PROFILE, "reason": "r" * (2 * 1024 * 1024)}).encode(), "over the limit of 1048576 bytes"),
])
def test_a_bad_profile_exits_2_with_one_line(tmp_path: Path, content: bytes, expected: str) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_bytes(content)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(base_config(tmp_path, tmp_path / "m", inspection={"profile": str(profile)})))
    one_error_line(cli("validate-config", "--skip-model", str(config)), "validate-config", str(profile), expected)


def test_a_password_file_others_can_read_stops_run_with_one_line(tmp_path: Path) -> None:
    secret = tmp_path / "mqtt.password"
    secret.write_text("s3cret-password\n")
    secret.chmod(0o644)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(base_config(tmp_path, tmp_path / "m", mqtt={
        "host": "127.0.0.1", "username": "station", "password_file": str(secret)})))
    line = one_error_line(cli("run", "--config", str(config)), "run", str(secret), "mode 0644",
                          f"`chmod 600 {secret}`")
    assert "s3cret-password" not in line


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch", reason="the tiny test model is a PyTorch checkpoint")
    from helpers.tiny_model import make_model

    return make_model(tmp_path_factory.mktemp("doors-model"))


def _parts(tmp_path: Path) -> None:
    import cv2
    import numpy as np

    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"{i:02d}.png"), np.full((64, 64, 3), 90 + i, np.uint8))


def test_a_state_directory_the_service_cannot_write_stops_run_with_one_line(tmp_path: Path, tiny_model: Path) -> None:
    """output.dir under a regular file: mkdir fails with ENOTDIR even for root (tests run as root, where a
    chmod 0555 directory would still be writable)."""
    _parts(tmp_path)
    blocker = tmp_path / "state-is-a-file"
    blocker.write_text("not a directory\n")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(base_config(tmp_path, tiny_model, output={"dir": str(blocker / "sub")})))
    one_error_line(cli("run", "--config", str(config)), "run", f"output.audit_log {blocker / 'sub' / 'audit.jsonl'}",
                   "cannot open for writing (Not a directory)")


def test_a_dashboard_token_others_can_read_stops_run_with_one_line(tmp_path: Path, tiny_model: Path) -> None:
    _parts(tmp_path)
    token = tmp_path / "dashboard.token"
    token.write_text("0123456789abcdef0123456789abcdef\n")
    token.chmod(0o666)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(base_config(tmp_path, tiny_model, dashboard={
        "enabled": True, "host": "127.0.0.1", "port": free_port(), "token_file": str(token)})))
    line = one_error_line(cli("run", "--config", str(config)), "run", f"dashboard.token_file {token}", "mode 0666",
                          f"`chmod 600 {token}`")
    assert "0123456789abcdef" not in line


def test_a_file_name_that_is_not_utf8_still_gets_its_verdict(tmp_path: Path, tiny_model: Path, mosquitto_broker: Any,
                                                             mqtt_subscriber: Any) -> None:
    """A folder holding a file whose name is not UTF-8 (os.listdir decodes it with surrogateescape): the
    verdict's `frame` spells the bad bytes as `\\udcff` text instead of the whole verdict failing to encode."""
    import cv2
    import numpy as np

    folder = tmp_path / "parts"
    folder.mkdir()
    ok, png = cv2.imencode(".png", np.full((64, 64, 3), 90, np.uint8))
    assert ok
    for name in (b"01.png", b"02-\xff\xfe.png", b"03.png"):
        with open(os.path.join(os.fsencode(folder), name), "wb") as fh:
            fh.write(png.tobytes())
    config = write_config(tmp_path / "c.yaml", model_dir=tiny_model, broker=mosquitto_broker, station="utf8",
                          source={"kind": "folder", "path": str(folder)}, mqtt={"topic_prefix": "ei-doors"})
    sub = mqtt_subscriber(mosquitto_broker, "ei-doors/utf8/verdict")
    res = cli("run", "--config", str(config))
    assert res.returncode == 0, res.stderr[-3000:]
    got = [p for _, p in sub.wait_for(3, 20)]
    assert [v["seq"] for v in got] == [0, 1, 2], got
    assert [v["frame"] for v in got] == ["01.png", "02-\\udcff\\udcfe.png", "03.png"]  # the bytes, as text
    # judged like any part (OpenCV's imread used to crash the whole process on such a name: SIGSEGV)
    assert all(v["verdict"] in ("PASS", "FAIL") and v["score"] is not None for v in got), got
