"""Files a technician edits are doors too (issue 17, items 6, 8, 9, 11): YAML anchors/aliases, duplicate keys,
binary and oversized files, a read-only state directory and secret files others can read are refused with one
short line naming the file."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from edge_inspector.calibration import ProfileError, load_profile
from edge_inspector.config import ConfigError, load_config
from edge_inspector.dashboard import DashboardError, read_token
from edge_inspector.errors import USER_ERRORS
from edge_inspector.install.config_file import install_config
from edge_inspector.install.layout import Layout
from edge_inspector.publish.audit import AuditError, AuditLog

MAX_ERROR = 1000  # characters: no error message may be longer (yaml_safe.MAX_ERROR, chosen in the issue's fix)
CONFIG = "station_id: line1\nsource:\n  kind: video\n  path: a.avi\nmodel:\n  path: m\n"
PROFILE = {
    "schema_version": 1, "product": "cookie", "station": "line1", "revision": 1,
    "created_at": "2026-11-30T12:00:00+00:00", "author": "ana", "reason": "new lighting",
    "model": {"model_id": "scratch-1234", "fingerprint": "abcd:fp32"},
    "policy": {"name": "fixed", "params": {}}, "thresholds": {"image": 0.52, "pixel": 0.48},
    "regions": {"min_area": 30, "min_peak": 0.5}, "samples": {"good": 14, "defect": 0},
    "expected": {"false_reject_rate": 0.0, "false_reject_upper": 0.19, "escape_rate": None, "escape_upper": None},
    "roi": None, "ignore_mask": None, "warnings": ["only 14 good images"],
}
# 9 levels of 9 aliased mappings: 9**9 (387 million) keys for anything that walks it (the old line-number
# index did); about 600 bytes on disk.
BOMB = "a: &a {" + ", ".join(f"k{k}: x" for k in range(9)) + "}\n" + "".join(
    f"{n}: &{n} {{" + ", ".join(f"k{k}: *{p}" for k in range(9)) + "}\n" for p, n in zip("abcdefgh", "bcdefghi"))


def short_line(message: str) -> None:
    assert "\n" not in message and len(message) <= MAX_ERROR, (len(message), message[:200])


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def profile_text(**overrides: object) -> str:
    return yaml.safe_dump({**PROFILE, **overrides}, sort_keys=False)


# --- item 6: anchors and aliases ---------------------------------------------------------------------------

def test_a_config_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    config = write(tmp_path / "bomb.yaml", CONFIG + BOMB)
    assert config.stat().st_size < 1000
    with pytest.raises(ConfigError, match=r"bomb.yaml: line 7: .*anchor &a is not allowed") as info:
        load_config(config)
    short_line(str(info.value))


def test_a_harmless_alias_in_a_config_is_refused_too(tmp_path: Path) -> None:
    """PyYAML would accept it; one rule (no anchors at all) is simpler to trust than a size heuristic."""
    text = "station_id: line1\nsource:\n  kind: video\n  path: &p a.avi\nmodel:\n  path: *p\n"
    with pytest.raises(ConfigError, match=r"line 4: .*anchor &p is not allowed"):
        load_config(write(tmp_path / "c.yaml", text))


def test_a_profile_with_aliased_warnings_gives_a_short_one_line_error(tmp_path: Path) -> None:
    text = profile_text(warnings=None).replace("warnings: null\n", "") + BOMB.replace("i: &i", "warnings: &i")
    path = write(tmp_path / "p.yaml", text)
    with pytest.raises(ProfileError, match=r"p.yaml: line \d+: .*anchor &a is not allowed") as info:
        load_profile(path)
    short_line(str(info.value))


def test_a_long_value_is_quoted_capped_in_the_error(tmp_path: Path) -> None:
    huge = "x" * 200_000
    with pytest.raises(ConfigError, match="mqtt.port: expected integer") as info:
        load_config(write(tmp_path / "c.yaml", CONFIG + f"mqtt:\n  port: {huge}\n"))
    short_line(str(info.value))
    with pytest.raises(ProfileError, match="author: expected") as info2:
        load_profile(write(tmp_path / "p.yaml", profile_text(author=["y" * 200_000] * 5)))
    short_line(str(info2.value))


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nested deeper than"):
        load_config(write(tmp_path / "c.yaml", CONFIG + "mqtt: " + "[" * 5000 + "]" * 5000 + "\n"))


@pytest.mark.parametrize("value", ["2026-13-45", "!!int abc", "!!float x", "!!python/name:os.system ''"])
def test_a_value_yaml_cannot_build_is_a_config_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"c.yaml: .*(invalid YAML|value)"):
        load_config(write(tmp_path / "c.yaml", CONFIG + f"station_id2: {value}\n"))


# --- item 8: duplicate keys --------------------------------------------------------------------------------

def test_a_profile_with_two_thresholds_blocks_is_refused(tmp_path: Path) -> None:
    text = profile_text() + "thresholds:\n  image: 0.01\n  pixel: 0.01\n"
    with pytest.raises(ProfileError, match=r"thresholds: duplicate key \(first on line \d+, again on line \d+\)"):
        load_profile(write(tmp_path / "p.yaml", text))


def test_a_duplicate_key_inside_a_profile_section_is_refused(tmp_path: Path) -> None:
    text = profile_text().replace("  image: 0.52\n", "  image: 0.52\n  image: 0.01\n")
    with pytest.raises(ProfileError, match=r"thresholds.image: duplicate key"):
        load_profile(write(tmp_path / "p.yaml", text))


# --- item 9: binary files, oversized files, a read-only state directory ------------------------------------

BINARY = bytes(range(256)) * 8  # one newline (byte 10) before the first byte that is not UTF-8 (0x80)


def test_a_binary_config_or_profile_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"bin.yaml: line 2: config file is not UTF-8 text \(byte 0x80"):
        load_config(write(tmp_path / "bin.yaml", BINARY))
    with pytest.raises(ProfileError, match=r"bin.yaml: line 2: profile is not UTF-8 text"):
        load_profile(write(tmp_path / "bin.yaml", BINARY))


def test_a_2_mib_config_or_profile_is_refused_naming_its_size(tmp_path: Path) -> None:
    big = CONFIG + "# " + "x" * (2 * 1024 * 1024) + "\n"
    path = write(tmp_path / "big.yaml", big)
    size = path.stat().st_size
    with pytest.raises(ConfigError, match=rf"big.yaml: config file is {size} bytes, over the limit of 1048576"):
        load_config(path)
    path = write(tmp_path / "bigp.yaml", profile_text(reason="r" * (2 * 1024 * 1024)))
    with pytest.raises(ProfileError, match=r"bigp.yaml: profile is \d+ bytes, over the limit of 1048576") as info:
        load_profile(path)
    short_line(str(info.value))


def test_an_unwritable_state_directory_is_a_one_line_user_error(tmp_path: Path) -> None:
    """Under a regular file: fails for root too (chmod 0555 does not stop root)."""
    blocker = write(tmp_path / "state", "a file, not a directory\n")
    with pytest.raises(AuditError, match=r"output.audit_log .*state/sub/audit.jsonl: cannot open for writing "
                                         r"\(Not a directory\)") as info:
        AuditLog(blocker / "sub" / "audit.jsonl")
    assert isinstance(info.value, USER_ERRORS) and "\n" not in str(info.value)


def test_the_new_errors_are_user_errors() -> None:
    from edge_inspector.config.secrets import SecretError
    from edge_inspector.config.yaml_safe import YamlFileError

    for kind in (AuditError, SecretError, YamlFileError, ConfigError, ProfileError):
        assert issubclass(kind, USER_ERRORS), kind


# --- item 11: secret files -----------------------------------------------------------------------------------

TOKEN = "0123456789abcdef0123456789abcdef\n"


@pytest.mark.parametrize("mode", [0o666, 0o644, 0o604, 0o620, 0o660])
def test_a_token_file_others_can_read_or_write_is_refused(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "dashboard.token", TOKEN)
    path.chmod(mode)
    with pytest.raises(DashboardError) as info:
        read_token(path)
    message = str(info.value)
    assert message.startswith(f"dashboard.token_file {path}: mode 0{mode:o} lets ")
    assert f"`chmod 600 {path}`" in message and "\n" not in message


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_private_token_file_is_read(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "dashboard.token", TOKEN)
    path.chmod(mode)
    assert read_token(path) == TOKEN.strip()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a root-owned file")
def test_group_read_is_allowed_for_a_root_owned_file_of_the_service_group(tmp_path: Path) -> None:
    """docs/deploy.md: `install -m 0640 -o root -g edge-inspector`; any other group is refused."""
    path = write(tmp_path / "dashboard.token", TOKEN)
    path.chmod(0o640)
    os.chown(path, 0, os.getgid())
    assert read_token(path) == TOKEN.strip()
    other = next(g for g in range(60000, 61000) if g != os.getgid() and g not in os.getgroups())
    os.chown(path, 0, other)
    with pytest.raises(DashboardError, match="mode 0640 lets its group read or change it"):
        read_token(path)


def test_an_mqtt_password_or_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    (tmp_path / "pw").chmod(0o666)
    config = write(tmp_path / "c.yaml", CONFIG + "mqtt:\n  username: op\n  password_file: pw\n")
    with pytest.raises(ConfigError, match=rf"mqtt.password_file {tmp_path / 'pw'}: mode 0666 lets other users "
                                          rf"read or change it; run `chmod 600 {tmp_path / 'pw'}`"):
        load_config(config)
    (tmp_path / "pw").chmod(0o600)
    assert load_config(config).mqtt.password == "s3cret"
    (tmp_path / "k.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    (tmp_path / "k.pem").chmod(0o644)
    config = write(tmp_path / "c.yaml", CONFIG + "mqtt:\n  tls: true\n  cert_file: c.pem\n  key_file: k.pem\n")
    with pytest.raises(ConfigError, match=r"mqtt.key_file .*k.pem: mode 0644"):
        load_config(config)


def test_a_hand_made_credentials_directory_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only /run/credentials (made by systemd's PID 1) is exempt."""
    creds = tmp_path / "creds"
    creds.mkdir()
    write(creds / "mqtt-password", "s3cret").chmod(0o644)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    with pytest.raises(ConfigError, match=r"credential mqtt-password .*mqtt-password: mode 0644"):
        load_config(write(tmp_path / "c.yaml", CONFIG + "mqtt:\n  username: op\n"))


def test_a_huge_secret_file_is_not_read_whole(tmp_path: Path) -> None:
    path = write(tmp_path / "dashboard.token", "a" * (1024 * 1024))
    path.chmod(0o600)
    with pytest.raises(DashboardError, match="over 65536 bytes"):
        read_token(path)


# --- item 11: install-service writes the config private from its first byte --------------------------------

_watch: list[list[tuple[str, int]]] = []  # the recording of the test that runs now, if any


def _audit(event: str, args: tuple[object, ...]) -> None:
    """Record the mode a file had each time it is chmod-ed or renamed into place, while a test watches."""
    if not _watch or event not in ("os.chmod", "os.rename"):
        return
    target = args[0]
    try:
        info = os.fstat(target) if isinstance(target, int) else os.stat(target)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return
    _watch[0].append((event, stat.S_IMODE(info.st_mode)))


sys.addaudithook(_audit)  # audit hooks cannot be removed; it does nothing unless a test sets _watch


@pytest.fixture
def watch_modes() -> Iterator[list[tuple[str, int]]]:
    _watch.append([])
    old = os.umask(0o022)
    try:
        yield _watch[0]
    finally:
        _watch.clear()
        os.umask(old)


@pytest.mark.parametrize("existing", [False, True])
def test_install_config_is_never_readable_by_others(tmp_path: Path, watch_modes: list[tuple[str, int]],
                                                     existing: bool) -> None:
    layout = Layout(tmp_path, "line1")
    layout.config.parent.mkdir(parents=True)
    if existing:
        layout.config.write_text("old: config\n")
    written = install_config("mqtt:\n  password: s3cret\n", layout, say=lambda _: None)
    assert stat.S_IMODE(written.stat().st_mode) == 0o640
    assert written.read_text() == "mqtt:\n  password: s3cret\n"
    assert watch_modes, "expected a chmod or a rename of the new file"
    assert all(mode & 0o007 == 0 for _, mode in watch_modes), watch_modes
    assert sorted(p.name for p in layout.config.parent.iterdir()) == (
        ["line1.yaml", "line1.yaml.new"] if existing else ["line1.yaml"])
