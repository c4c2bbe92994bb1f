"""Secrets the config refers to: the MQTT password and the dashboard token, from files or systemd credentials.

Order for the MQTT password: `mqtt.password_file`; else, with a username, `$CREDENTIALS_DIRECTORY/mqtt-password`
(systemd LoadCredential=); else `mqtt.password` in the YAML, which still works but is warned about. The
dashboard token: `dashboard.token_file`, else `$CREDENTIALS_DIRECTORY/dashboard-token`. Every secret read is
registered with redact so no log line shows it.

Secret files (the password and token files, the MQTT client key) must not be open to other users:
check_secret_file() refuses any "other" permission bit and group write, and allows group read only for a
file owned by root whose group is one the service runs with (`install -m 0640 -o root -g edge-inspector`,
docs/deploy.md), as PostgreSQL does for its key. Files systemd made in /run/credentials/ (LoadCredential=)
are not checked: PID 1 writes them read-only for this service alone and grants the read with an ACL, which
shows in the group bits; a $CREDENTIALS_DIRECTORY elsewhere (set by hand) is checked like any other file.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from ..errors import UserError
from . import redact
from .models import Config
from .redact import cap_text

log = logging.getLogger(__name__)


class SecretError(UserError, ValueError):
    """A secret file that cannot be read or is open to other users: one line naming the key and the file."""


MAX_SECRET_BYTES = 64 * 1024
SYSTEMD_CREDENTIALS = Path("/run/credentials")  # where PID 1 puts a system service's LoadCredential= files


def check_secret_file(path: Path, key: str) -> None:
    """SecretError unless `path` is closed to other users (see the module doc for the rule and why)."""
    path = Path(path)
    if SYSTEMD_CREDENTIALS in path.absolute().parents:
        return
    try:
        info = path.stat()
    except OSError:
        return  # the read that follows says why it cannot be read, in its caller's words
    mode = stat.S_IMODE(info.st_mode)
    group_read_ok = info.st_uid == 0 and (info.st_gid == os.getgid() or info.st_gid in os.getgroups())
    too_open = mode & 0o007 or mode & 0o020 or (mode & 0o040 and not group_read_ok)
    if too_open:
        who = "other users" if mode & 0o007 else "its group"
        raise SecretError(f"{key} {path}: mode {mode:04o} lets {who} read or change it; run `chmod 600 {path}` "
                          "(and chown it to the service user), or 0640 owned by root:<service group>")


def credential(name: str) -> Path | None:
    """$CREDENTIALS_DIRECTORY/<name> when systemd passed it, else None."""
    folder = os.environ.get("CREDENTIALS_DIRECTORY")
    if not folder:
        return None
    path = Path(folder) / name
    return path if path.is_file() else None


def _read_text(path: Path, key: str) -> str:
    """The whole text of a secret file after check_secret_file(); at most MAX_SECRET_BYTES are read."""
    check_secret_file(path, key)
    try:
        with Path(path).open("rb") as fh:
            data = fh.read(MAX_SECRET_BYTES + 1)
        if len(data) > MAX_SECRET_BYTES:
            raise SecretError(f"{key} {path}: over {MAX_SECRET_BYTES} bytes, not a password or token file")
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"{key} {path}: cannot be read ({cap_text(str(exc), 200)})") from None


def read_secret(path: Path, key: str) -> str:
    """The secret in `path`: the one rule for every secret file (the MQTT password, the dashboard token, a
    credential). Refused, with a SecretError naming `key` and the file: a file others can read or change
    (check_secret_file), over MAX_SECRET_BYTES, not UTF-8, empty, or with more than one line. Surrounding
    whitespace, a trailing newline included, is stripped. (A second line used to be ignored for passwords
    and refused for tokens: the stricter rule won, as a stray line is a paste gone wrong, not a secret.)"""
    lines = [line.strip() for line in _read_text(path, key).strip().splitlines()]
    if not lines or not lines[0]:
        raise SecretError(f"{key} {path}: empty")
    if len(lines) > 1:
        raise SecretError(f"{key} {path}: {len(lines)} lines; expected the secret alone on one line")
    return lines[0]


def load_secrets(cfg: Config, source: Path) -> Config:
    """Fill cfg.mqtt.password and cfg.dashboard.token_file from their files or credentials (see module doc)."""
    mq = cfg.mqtt
    if mq.key_file is not None and mq.key_file.is_file():  # a missing one is reported when TLS is set up
        check_secret_file(mq.key_file, "mqtt.key_file")
    if mq.password_file is not None:
        mq.password = read_secret(mq.password_file, "mqtt.password_file")
    elif mq.username is not None and mq.password is None:
        found = credential("mqtt-password")  # absent outside the service: missing_secrets() says so
        if found is not None:
            mq.password = read_secret(found, "credential mqtt-password")
    elif mq.password is not None:
        log.warning("%s: mqtt.password is in plaintext in the config; put it in a file readable only by the "
                    "service (mqtt.password_file) or pass it with systemd's LoadCredential=mqtt-password:FILE",
                    source)
    redact.register(mq.password)
    board = cfg.dashboard
    if board.enabled and board.token_file is None:
        board.token_file = credential("dashboard-token")
    return cfg


def missing_secrets(cfg: Config) -> list[str]:
    """One line per secret the config needs and did not get (`run` refuses to start; validate-config warns:
    outside the service the systemd credentials are not there)."""
    missing = []
    if (cfg.mqtt.enabled or cfg.sparkplug.enabled) and cfg.mqtt.username is not None and cfg.mqtt.password is None:
        missing.append("mqtt.password_file: required with mqtt.username (or systemd's "
                       "LoadCredential=mqtt-password, or mqtt.password)")
    if cfg.dashboard.enabled and cfg.dashboard.token_file is None:
        missing.append("dashboard.token_file: required when dashboard.enabled is true (or systemd's "
                       "LoadCredential=dashboard-token)")
    return missing
