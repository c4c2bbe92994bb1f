"""One rule for every secret file (config/secrets.read_secret): the MQTT password file, systemd credentials and the
dashboard token (dashboard/runner.read_token, which adds only the token's own shape) refuse the same files with
the same line. The stricter rule won: a second line used to be dropped silently from a password file (a paste
gone wrong, judged a password), while a token file refused it."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_inspector.config import ConfigError, load_config
from edge_inspector.config.secrets import MAX_SECRET_BYTES, SecretError, read_secret
from edge_inspector.dashboard import DashboardError, read_token

cli_main = importlib.import_module("edge_inspector.cli.main")
CONFIG = "station_id: line1\nsource:\n  kind: video\n  path: a.avi\nmodel:\n  path: m\n"
TOKEN = "0123456789abcdef0123456789abcdef"


def secret_file(path: Path, content: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(content)
    path.chmod(mode)
    return path


BAD = {
    "empty": (b"", ": empty"),
    "blank lines": (b"\n \n\t\n", ": empty"),
    "two lines": (f"{TOKEN}\n{TOKEN}\n".encode(), ": 2 lines; expected the secret alone on one line"),
    "a line after a blank": (f"{TOKEN}\n\nsecond\n".encode(), ": 3 lines; expected the secret alone"),
    "not UTF-8": (b"\xff\xfe" + TOKEN.encode(), ": cannot be read ("),
    "too large": (b"a" * (MAX_SECRET_BYTES + 1), f": over {MAX_SECRET_BYTES} bytes"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_the_token_and_the_password_refuse_the_same_files_with_the_same_line(tmp_path: Path, case: str) -> None:
    content, needle = BAD[case]
    path = secret_file(tmp_path / "secret", content)
    with pytest.raises(SecretError) as as_secret:
        read_secret(path, "dashboard.token_file")
    with pytest.raises(DashboardError) as as_token:
        read_token(path)
    assert str(as_token.value) == str(as_secret.value)
    assert str(as_secret.value).startswith(f"dashboard.token_file {path}{needle}")
    assert "\n" not in str(as_secret.value) and len(str(as_secret.value)) < 400


def test_an_open_file_is_refused_by_both(tmp_path: Path) -> None:
    path = secret_file(tmp_path / "secret", TOKEN.encode(), 0o644)
    with pytest.raises(SecretError, match="mode 0644 lets other users") as as_secret:
        read_secret(path, "dashboard.token_file")
    with pytest.raises(DashboardError) as as_token:
        read_token(path)
    assert str(as_token.value) == str(as_secret.value)


@pytest.mark.parametrize("content", [TOKEN, f"{TOKEN}\n", f"  {TOKEN}\r\n", f"\n{TOKEN}\n\n"])
def test_surrounding_whitespace_and_the_trailing_newline_are_stripped_alike(tmp_path: Path, content: str) -> None:
    path = secret_file(tmp_path / "secret", content.encode())
    assert read_secret(path, "mqtt.password_file") == TOKEN == read_token(path)


def test_a_password_file_with_a_second_line_is_refused_by_the_loader(tmp_path: Path) -> None:
    """It used to give the first line as the password, silently."""
    secret_file(tmp_path / "pw", b"s3cret\nold-password\n")
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG + "mqtt:\n  username: op\n  password_file: pw\n")
    with pytest.raises(ConfigError, match=rf"mqtt.password_file {tmp_path / 'pw'}: 2 lines; expected the secret "
                                          "alone on one line"):
        load_config(config)
    secret_file(tmp_path / "pw", b"s3cret with a space\n")  # spaces inside a password stay (a token refuses them)
    assert load_config(config).mqtt.password == "s3cret with a space"


def test_validate_config_prints_the_refusal_as_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret_file(tmp_path / "pw", b"s3cret\nsecond\n")
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG + "mqtt:\n  username: op\n  password_file: pw\n")
    assert cli_main.main(["validate-config", str(config), "--skip-model"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.endswith(f"mqtt.password_file {tmp_path / 'pw'}: 2 lines; expected the secret "
                                            "alone on one line")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=200) | st.text(max_size=80).map(str.encode))
def test_any_content_gives_one_stripped_line_or_a_one_line_refusal(tmp_path: Path, content: bytes) -> None:
    path = secret_file(tmp_path / "fuzz", content)
    try:
        got = read_secret(path, "mqtt.password_file")
    except SecretError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc) and len(str(exc)) < 400
    else:
        assert got and got == got.strip() and not any(c in got for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
