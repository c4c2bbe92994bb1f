"""validate-config as a function: install-service runs the same checks by calling it, not by re-parsing argv
through the CLI's parser (which made cli/install_service.py and cli/main.py import each other; the import
drawing's test, test_import_graph.py, keeps that circle closed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_inspector.cli.install_service import _validate
from edge_inspector.cli.validate_config import validate_config
from edge_inspector.model.metadata import MetadataError


def _config(tmp_path: Path, model_dir: Path) -> Path:
    config = tmp_path / "c.yaml"
    config.write_text(f"source:\n  kind: video\n  path: {tmp_path / 'v.avi'}\nmodel:\n  path: {model_dir}\n"
                      "inspection:\n  threshold: 0.5\nmqtt:\n  enabled: false\n")
    return config


def test_validate_config_prints_the_ok_line_and_returns_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, tmp_path / "not-deployed")
    assert validate_config(config, skip_model=True) == 0
    out = capsys.readouterr()
    assert out.out.startswith(f"{config}: OK (station ")
    assert f"model {tmp_path / 'not-deployed'} (not checked)" in out.out and "threshold 0.5 from the config" in out.out
    assert "--skip-model: model" in out.err


def test_install_services_check_raises_validate_configs_errors(tmp_path: Path) -> None:
    config = _config(tmp_path, tmp_path / "not-deployed")
    with pytest.raises(FileNotFoundError, match="not found \\(deploy the model first, or --skip-model\\)"):
        _validate(config, False)
    model = tmp_path / "model"
    model.mkdir()
    (model / "metadata.json").write_text('{"model_id": "m1", "kind": "scratch", "input_size": [64, 64], '
                                         '"arch": {}, "schema_version": 1, "image_threshold": NaN}')
    with pytest.raises(MetadataError, match="image_threshold: expected a finite number, got nan"):
        _validate(_config(tmp_path, model), False)

