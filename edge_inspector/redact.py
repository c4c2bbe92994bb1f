"""Secrets never reach a log line: passwords the config loaded and credentials inside URLs are masked.

install() puts a filter on the root logger's handlers (the CLI calls it once); register() adds a secret
the filter masks wherever it appears; redact_url() masks `user:password@` in stream URLs for messages the
code builds itself (describe(), errors).
"""

from __future__ import annotations

import logging
import re

MASK = "***"
_secrets: set[str] = set()
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@:\s]*):(?P<password>[^/@\s]*)@")


def register(secret: str | None) -> None:
    """Mask `secret` in every later log line (ignored when empty or shorter than 4 characters)."""
    if secret and len(secret) >= 4:
        _secrets.add(secret)


def redact_url(text: str) -> str:
    """`rtsp://user:pass@host/...` -> `rtsp://user:***@host/...` anywhere in `text`."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)


def redact(text: str) -> str:
    """`text` with URL credentials and every registered secret masked."""
    text = redact_url(text)
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's final message (and its exception text) with redact()."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install() -> None:
    """Filter every handler of the root logger (call after logging is configured)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
