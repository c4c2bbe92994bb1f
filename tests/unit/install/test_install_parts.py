"""The installer's parts without a venv or systemd: paths, model.path edits, the user, units, uninstall."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from edge_inspector.install import InstallError, Layout, uninstall
from edge_inspector.install.config_file import install_config, set_model_path
from edge_inspector.install.enable import enable
from edge_inspector.install.units import render_unit, write_units
from edge_inspector.install.user import ensure_user, user_commands

REPO = Path(__file__).resolve().parents[3]


def lines() -> tuple[list[str], Callable[[str], None]]:
    out: list[str] = []
    return out, out.append


@pytest.mark.parametrize("text", [
    "station_id: a\nmodel:\n  path: /old  # keep me\n  backend: torch\nmqtt:\n  enabled: false\n",
    "model:\n    backend: torch\n    path: '/old dir'\n",
    "model:\n  backend: torch\n",
    "station_id: a\n",
    "model:\n  # comment first\n  path: /old\n# top comment\nmqtt: {enabled: false}\n",
])
def test_set_model_path_changes_only_model_path(text: str) -> None:
    out = set_model_path(text, "/var/lib/edge-inspector/models/m 1")
    before, after = yaml.safe_load(text), yaml.safe_load(out)
    assert after["model"]["path"] == "/var/lib/edge-inspector/models/m 1"
    after["model"].pop("path")
    (before.get("model") or {}).pop("path", None)
    assert {k: v for k, v in after.items() if v} == {k: v for k, v in before.items() if v}
    assert out.count("#") == text.count("#")  # comments kept


def test_set_model_path_refuses_a_flow_mapping() -> None:
    with pytest.raises(InstallError, match="line1.yaml: model: is not a block mapping"):
        set_model_path("model: {path: /x}\n", "/y", "line1.yaml")


@pytest.mark.parametrize("station", ["", "a b", "../x", "-x", "x" * 65, "a/b"])
def test_station_names_that_cannot_be_an_instance_are_refused(station: str) -> None:
    with pytest.raises(InstallError, match="--station"):
        Layout(Path("/"), station)


def test_layout_paths_under_a_root(tmp_path: Path) -> None:
    layout = Layout(tmp_path, "line1")
    assert layout.config == tmp_path / "etc/edge-inspector/line1.yaml"
    assert layout.target(layout.executable) == "/opt/edge-inspector/.venv/bin/edge-inspector"
    assert not layout.is_live and Layout(Path("/"), "line1").is_live
    with pytest.raises(InstallError, match="--root"):
        Layout(Path("rel"), "line1")


def test_user_commands_add_the_device_group() -> None:
    new = user_commands(existing_user=False, existing_group=False)
    assert new[0] == ["groupadd", "--system", "edge-inspector"]
    assert new[1][:2] == ["useradd", "--system"] and "video" in new[1]
    assert user_commands(existing_user=True, existing_group=True) == [
        ["usermod", "--append", "--groups", "video", "edge-inspector"]]


def test_user_under_a_temporary_root_is_only_reported(tmp_path: Path) -> None:
    out, say = lines()
    left = ensure_user(Layout(tmp_path, "line1"), say)
    assert left[0] == "groupadd --system edge-inspector" and left[1].startswith("useradd --system")
    assert "not creating user" in out[0]


def test_existing_config_is_kept_and_the_new_one_written_beside_it(tmp_path: Path) -> None:
    layout = Layout(tmp_path, "line1")
    layout.etc.mkdir(parents=True)
    out, say = lines()
    assert install_config("a: 1\n", layout, say) == layout.config
    assert install_config("a: 1\n", layout, say) == layout.config
    new = install_config("a: 2\n", layout, say)
    assert new.name == "line1.yaml.new" and layout.config.read_text() == "a: 1\n"
    assert out[-1].startswith(f"config: kept {layout.config}; the new one is {new}")


def test_unit_template_is_checked_and_written(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "root", "line1")
    text = render_unit(REPO, layout)
    assert "RestartPreventExitStatus=2" in text and "ExecStartPre" not in text.replace("# ExecStartPre", "")
    out, say = lines()
    written = write_units(REPO, layout, say)
    assert layout.unit_file in written and layout.unit_file.read_text() == text
    bad = tmp_path / "src" / "systemd"
    bad.mkdir(parents=True)
    (bad / "edge-inspector@.service").write_text("[Service]\nExecStart=/usr/bin/true\n")
    with pytest.raises(InstallError, match="ExecStart= does not run /opt/edge-inspector/.venv/bin/edge-inspector"):
        render_unit(tmp_path / "src", layout)


def test_systemctl_is_printed_not_run_under_a_temporary_root(tmp_path: Path) -> None:
    out, say = lines()
    left = enable(Layout(tmp_path, "line1"), True, say)
    assert left[:2] == ["systemctl daemon-reload", "systemctl enable --now edge-inspector@line1.service"]
    assert "not running systemctl" in out[0]


def test_uninstall_of_a_station_never_installed_is_harmless(tmp_path: Path) -> None:
    out, say = lines()
    left = uninstall(tmp_path, "line9", purge=True, say=say)
    assert left[0] == "systemctl disable --now edge-inspector@line9.service"
    assert "uninstalled edge-inspector@line9.service" in out


@pytest.mark.parametrize(("content", "expected"), [
    (b"station_id: x\n" + bytes(range(128, 256)), "line 2: config file is not UTF-8 text"),
    (b"station_id: x\n#" + b"x" * (2 * 1024 * 1024), "over the limit of 1048576 bytes"),
])
def test_install_service_refuses_a_binary_or_huge_config_with_one_line(tmp_path: Path, content: bytes,
                                                                       expected: str) -> None:
    """Through the entry point, under a temporary root: nothing is installed, exit 2, one line."""
    import subprocess
    import sys

    config = tmp_path / "line1.yaml"
    config.write_bytes(content)
    res = subprocess.run([sys.executable, "-m", "edge_inspector.cli", "install-service", "--station", "line1",
                          "--config", str(config), "--root", str(tmp_path / "root"), "--no-enable"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr[-2000:]
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr[-2000:]
    assert res.stderr.startswith(f"edge-inspector install-service: error: --config {config}: ")
    assert expected in res.stderr and len(res.stderr) < 1100
    assert not (tmp_path / "root").exists()
