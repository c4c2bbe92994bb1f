"""Secrets the config refers to: the MQTT password and the dashboard token, from files or systemd credentials.

Order for the MQTT password: `mqtt.password_file`; else, with a username, `$CREDENTIALS_DIRECTORY/mqtt-password`
(systemd LoadCredential=); else `mqtt.password` in the YAML, which still works but is warned about. The
dashboard token: `dashboard.token_file`, else `$CREDENTIALS_DIRECTORY/dashboard-token`. Every secret read is
registered with redact so no log line shows it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .. import redact
from .models import Config

log = logging.getLogger(__name__)


class SecretError(ValueError):
    """A secret file that cannot be read: one line naming the key and the file."""


def credential(name: str) -> Path | None:
    """$CREDENTIALS_DIRECTORY/<name> when systemd passed it, else None."""
    folder = os.environ.get("CREDENTIALS_DIRECTORY")
    if not folder:
        return None
    path = Path(folder) / name
    return path if path.is_file() else None


def read_secret(path: Path, key: str) -> str:
    """The first line of `path`, stripped; SecretError names `key` and the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"{key} {path}: cannot be read ({exc})") from None
    lines = text.strip().splitlines()
    if not lines or not lines[0].strip():
        raise SecretError(f"{key} {path}: empty")
    return lines[0].strip()


def load_secrets(cfg: Config, source: Path) -> Config:
    """Fill cfg.mqtt.password and cfg.dashboard.token_file from their files or credentials (see module doc)."""
    mq = cfg.mqtt
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
    if cfg.mqtt.enabled and cfg.mqtt.username is not None and cfg.mqtt.password is None:
        missing.append("mqtt.password_file: required with mqtt.username (or systemd's "
                       "LoadCredential=mqtt-password, or mqtt.password)")
    if cfg.dashboard.enabled and cfg.dashboard.token_file is None:
        missing.append("dashboard.token_file: required when dashboard.enabled is true (or systemd's "
                       "LoadCredential=dashboard-token)")
    return missing
