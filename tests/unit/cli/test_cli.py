"""The CLI: every verb has --help, and user errors are one line with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

VERBS = ["run", "validate-config", "train", "evaluate", "calibrate", "threshold", "export", "build-engine",
         "parity", "bench", "synth", "demo", "watch", "install-service", "uninstall-service"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_inspector.cli", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb: str) -> None:
    res = cli(verb, "--help")
    assert res.returncode == 0, res.stderr
    assert f"edge-inspector {verb}" in res.stdout
    assert "--" in res.stdout  # options are documented


def test_top_level_help_lists_every_verb() -> None:
    res = cli("--help")
    assert res.returncode == 0
    for verb in VERBS:
        assert verb in res.stdout


def test_run_with_missing_model_dir_is_one_line(tmp_path: Path) -> None:
    video = tmp_path / "v.avi"
    config = tmp_path / "c.yaml"
    config.write_text(f"source:\n  kind: video\n  path: {video}\nmodel:\n  path: {tmp_path / 'nomodel'}\n"
                      "mqtt:\n  enabled: false\n")
    res = cli("run", "--config", str(config))
    assert res.returncode == 2, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert "nomodel" in last and last.startswith("edge-inspector run: error:")


def test_synth_writes_a_dataset(tmp_path: Path) -> None:
    res = cli("synth", "--out", str(tmp_path), "--size", "64", "--train", "3", "--test-good", "2",
              "--test-defect", "1", "--video-frames", "4")
    assert res.returncode == 0, res.stderr
    assert len(list((tmp_path / "brushed_metal" / "train" / "good").glob("*.png"))) == 3
    assert (tmp_path / "brushed_metal_line.avi").exists()
    assert (tmp_path / "brushed_metal_line.truth.json").exists()


def test_help_does_not_import_torch() -> None:
    code = ("import sys\nfrom edge_inspector.cli import main\ntry:\n    main(['bench', '--help'])\n"
            "except SystemExit:\n    pass\nprint('torch' in sys.modules, 'numpy' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "False False"


@pytest.mark.parametrize("level", ["debug", "Warning", "ERROR"])
def test_log_level_is_case_insensitive(level: str, tmp_path: Path) -> None:
    res = cli("--log-level", level, "validate-config", str(tmp_path / "missing.yaml"))
    assert res.returncode == 2  # the missing file is the one-line user error, not the level
    assert "Traceback" not in res.stderr and "log level" not in res.stderr


def test_bad_log_level_is_one_error_line_not_a_traceback() -> None:
    res = cli("--log-level", "foo", "watch")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("edge-inspector: error: argument --log-level:")
    assert "'foo'" in last and "DEBUG, INFO, WARNING, ERROR" in last


def write_model_dir(model_dir: Path, image_threshold: str = "0.125") -> Path:
    """A metadata.json written by hand (json.dumps cannot write NaN's literal form by accident)."""
    model_dir.mkdir(parents=True)
    (model_dir / "metadata.json").write_text(
        '{"model_id": "m1", "kind": "scratch", "input_size": [64, 64], "arch": {}, "schema_version": 1, '
        f'"image_threshold": {image_threshold}}}')
    return model_dir


def write_config(tmp_path: Path, model_dir: Path, threshold: str = "auto") -> Path:
    config = tmp_path / "c.yaml"
    config.write_text(f"source:\n  kind: video\n  path: {tmp_path / 'v.avi'}\nmodel:\n  path: {model_dir}\n"
                      f"inspection:\n  threshold: {threshold}\nmqtt:\n  enabled: false\n")
    return config


def test_validate_config_refuses_a_nan_model_threshold(tmp_path: Path) -> None:
    model = write_model_dir(tmp_path / "model", "NaN")
    res = cli("validate-config", str(write_config(tmp_path, model)))
    assert res.returncode == 2, res.stdout
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("edge-inspector validate-config: error:")
    assert "metadata.json: image_threshold: expected a finite number, got nan" in lines[0]


def test_validate_config_loads_the_model_and_reports_its_threshold_when_auto(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the tiny test model is a PyTorch checkpoint")
    from helpers.tiny_model import make_model

    model = make_model(tmp_path)
    res = cli("validate-config", str(write_config(tmp_path, model)))
    assert res.returncode == 0, res.stderr
    assert "OK" in res.stdout and "threshold 0.4321 from the model" in res.stdout
    assert "loads on torch:cpu:fp32" in res.stdout
    res = cli("validate-config", str(write_config(tmp_path, model, threshold="0.5")))
    assert res.returncode == 0, res.stderr
    assert "threshold 0.5 from the config" in res.stdout


def test_validate_config_refuses_a_missing_model_unless_told_to_skip_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, tmp_path / "not-deployed")
    res = cli("validate-config", str(config))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"edge-inspector validate-config: error: model.path {tmp_path / 'not-deployed'}: not found (deploy the "
        "model first, or --skip-model)"]
    res = cli("validate-config", "--skip-model", str(config))
    assert res.returncode == 0 and "(not checked)" in res.stdout, res.stderr


def test_validate_config_refuses_a_weightless_model_dir(tmp_path: Path) -> None:
    res = cli("validate-config", str(write_config(tmp_path, write_model_dir(tmp_path / "model"))))
    assert res.returncode == 2
    assert "no backend can score this model here" in res.stderr.strip().splitlines()[-1]


def test_validate_config_refuses_a_dir_without_metadata(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    res = cli("validate-config", str(write_config(tmp_path, tmp_path / "model")))
    assert res.returncode == 2
    assert "metadata.json: not found" in res.stderr.strip().splitlines()[-1]


def test_validate_config_checks_the_dashboard_token_file(tmp_path: Path) -> None:
    model = write_model_dir(tmp_path / "model")
    config = write_config(tmp_path, model)
    token = tmp_path / "dashboard.token"
    config.write_text(config.read_text() + f"dashboard:\n  enabled: true\n  token_file: {token}\n")
    res = cli("validate-config", "--skip-model", str(config))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1:] == [
        f"edge-inspector validate-config: error: dashboard.token_file {token}: cannot be read "
        f"([Errno 2] No such file or directory: '{token}')"]
    token.write_text("0123456789abcdef0123456789abcdef\n")
    token.chmod(0o600)  # a token file others can read is refused
    res = cli("validate-config", "--skip-model", str(config))
    assert res.returncode == 0, res.stderr
    assert "dashboard http://127.0.0.1:8088/" in res.stdout


def test_run_refuses_to_start_without_the_mqtt_password_it_needs(tmp_path: Path) -> None:
    config = write_config(tmp_path, tmp_path / "model")
    config.write_text(config.read_text().replace("mqtt:\n  enabled: false\n", "mqtt:\n  username: station\n"))
    res = cli("run", "--config", str(config))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1] == (
        f"edge-inspector run: error: {config}: mqtt.password_file: required with mqtt.username (or systemd's "
        "LoadCredential=mqtt-password, or mqtt.password)")


def test_watch_against_an_unreachable_broker_is_one_line_not_a_traceback() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = cli("watch", "--host", "127.0.0.1", "--port", str(port))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith(
        f"edge-inspector watch: error: cannot connect to MQTT broker 127.0.0.1:{port}:")
