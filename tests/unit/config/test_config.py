"""Config loading: valid files resolve, bad files fail with one line naming the key (and line)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge_inspector.config import ConfigError, load_config
from edge_inspector.config.secrets import missing_secrets

VALID = """\
station_id: line1-cam1
source:
  kind: video
  path: videos/line.avi
model:
  path: models/bottle
inspection:
  threshold: 0.5
  morphology:
    open: 3
    close: 5
mqtt:
  host: broker.local
  port: 1884
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_valid_config_resolves_paths_against_the_config_folder(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, VALID))
    assert cfg.station_id == "line1-cam1"
    assert cfg.source.path == tmp_path / "videos/line.avi"
    assert cfg.model.path == tmp_path / "models/bottle"
    assert cfg.inspection.threshold == 0.5 and isinstance(cfg.inspection.threshold, float)
    assert cfg.inspection.pixel_threshold == "auto"
    assert cfg.mqtt.port == 1884
    assert cfg.output.audit_log == tmp_path / "edge-inspector-state" / "audit.jsonl"


def test_state_directory_from_systemd_is_the_output_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    cfg = load_config(write(tmp_path, VALID))
    assert cfg.output.evidence_dir == tmp_path / "state" / "evidence"


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ("mqtt:\n  port: abc\n", 'mqtt.port: expected integer, got "abc" (line 2)'),
        ("mqtt:\n  port: 70000\n", "mqtt.port: expected 1..65535, got 70000"),
        ("mqtt:\n  prot: 1883\n", "mqtt.prot: unknown key"),
        ("colour: red\n", "colour: unknown key"),
        ("inspection:\n  threshold: high\n", 'inspection.threshold: expected number or one of auto, got "high"'),
        ("inspection:\n  min_defect_area: 2.5\n", "inspection.min_defect_area: expected integer, got 2.5"),
        ("inspection:\n  morphology:\n    open: -1\n", "inspection.morphology.open: expected a kernel size >= 0"),
        ("inspection:\n  require_region: yes please\n", "inspection.require_region: expected true or false"),
        ("source:\n  kind: webcam\n", "source.kind: expected one of video, camera, url, folder"),
        ("source:\n  kind: camera\n", "source.device: required when source.kind is camera"),
        ("source:\n  path: a.avi\n  queue_size: 0\n", "source.queue_size: expected >= 1, got 0"),
        ("mqtt:\n  password: pw\n", "mqtt.username: required when a password is given"),
        ("mqtt:\n  username: op\n  password: pw\n  password_file: f\n", "mqtt.password_file: given together"),
        ("mqtt:\n  tls: true\n  cert_file: c.pem\n", "mqtt.key_file: a client certificate needs both"),
        ("mqtt:\n  key_file: k.pem\n", "mqtt.key_file: given but mqtt.tls is false"),
        ("mqtt:\n  keepalive: -5\n", "mqtt.keepalive: expected a positive number, got -5"),
        ("mqtt:\n  topic_prefix: a/#\n", 'mqtt.topic_prefix: expected a topic name'),
        ("mqtt:\n  topic_prefix: a//b\n", 'mqtt.topic_prefix: expected a topic name'),
        ("mqtt:\n  topic_prefix: $SYS\n", 'mqtt.topic_prefix: expected a topic name'),
        ("mqtt:\n  port: 1883\n  port: 1884\n", "mqtt.port: duplicate key (first on line 2, again on line 3)"),
        ("inspection:\n  deadline_ms: -1\n", "inspection.deadline_ms: expected a positive number or null"),
        ("station_id: a/b\n", "station_id: expected a topic name (one level"),
        ("station_id: a+\n", "station_id: expected a topic name (one level"),
        ("mqtt: 5\n", "mqtt: expected a mapping, got 5"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, patch: str, expected: str) -> None:
    base = {"source": "source:\n  kind: video\n  path: a.avi\n", "model": "model:\n  path: m\n"}
    section = patch.split(":", maxsplit=1)[0]
    base.pop(section, None)
    text = patch + "".join(base.values())
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert expected in message
    assert str(tmp_path / "config.yaml") in message
    assert "\n" not in message


def test_missing_model_path_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model.path: required"):
        load_config(write(tmp_path, "source:\n  kind: video\n  path: a.avi\n"))


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config.yaml: line 3: invalid YAML"):
        load_config(write(tmp_path, "source:\n  kind: video\n\tpath: x\n"))


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml")


def test_validate_config_cli_exit_codes(tmp_path: Path) -> None:
    good = write(tmp_path, VALID)
    ok = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "validate-config", "--skip-model", str(good)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(VALID.replace("port: 1884", "port: abc"))
    res = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "validate-config", str(bad)],
                         capture_output=True, text=True)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and 'mqtt.port: expected integer, got "abc"' in lines[0]


def test_the_mqtt_password_comes_from_its_file_or_systemd_credentials(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    base = "source:\n  kind: video\n  path: a.avi\nmodel:\n  path: m\n"
    (tmp_path / "pw").write_text("s3cret-from-file\n")
    (tmp_path / "pw").chmod(0o600)
    cfg = load_config(write(tmp_path, base + "mqtt:\n  username: op\n  password_file: pw\n"))
    assert cfg.mqtt.password == "s3cret-from-file" and cfg.mqtt.password_file == tmp_path / "pw"
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt-password").write_text("s3cret-from-systemd")
    (creds / "mqtt-password").chmod(0o400)  # outside /run/credentials the mode is checked
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert load_config(write(tmp_path, base + "mqtt:\n  username: op\n")).mqtt.password == "s3cret-from-systemd"
    with caplog.at_level("WARNING"):
        cfg = load_config(write(tmp_path, base + "mqtt:\n  username: op\n  password: plain-text-pw\n"))
    assert cfg.mqtt.password == "plain-text-pw" and "mqtt.password is in plaintext" in caplog.text
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    cfg = load_config(write(tmp_path, base + "mqtt:\n  username: op\n"))  # outside the service: run refuses
    assert cfg.mqtt.password is None
    assert missing_secrets(cfg) == ["mqtt.password_file: required with mqtt.username (or systemd's "
                                    "LoadCredential=mqtt-password, or mqtt.password)"]
    (tmp_path / "pw").unlink()
    with pytest.raises(ConfigError, match=r"mqtt.password_file .*pw: cannot be read"):
        load_config(write(tmp_path, base + "mqtt:\n  username: op\n  password_file: pw\n"))


def test_secrets_and_url_credentials_never_reach_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from edge_inspector.config import redact

    redact.register("hunter2-password")
    logger = logging.getLogger("edge_inspector.test_redact")
    caplog.handler.addFilter(redact.RedactingFilter())
    with caplog.at_level("INFO"):
        logger.info("connecting with %s to %s", "hunter2-password", "rtsp://cam:pa55word@10.0.0.7/stream")
        try:
            raise ValueError("bad password hunter2-password")
        except ValueError:
            logger.exception("failed")
    assert "hunter2-password" not in caplog.text and "pa55word" not in caplog.text
    assert "rtsp://cam:***@10.0.0.7/stream" in caplog.text
    assert redact.redact_url("http://u:p@h/x and rtsp://a:b@c") == "http://u:***@h/x and rtsp://a:***@c"
