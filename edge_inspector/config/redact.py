"""Secrets never reach a log line: passwords the config loaded and credentials inside URLs are masked.

install() puts a filter on the root logger's handlers (the CLI calls it once); register() adds a secret
the filter masks wherever it appears; redact_url() masks `user:password@` in stream URLs and the
`user-pw=...` style keys of GStreamer pipelines for messages the code builds itself (describe(), errors).
The filter also caps every log line at MAX_MESSAGE characters, and a log call whose arguments do not fit
its format string is logged as such instead of raising into its caller.

Everything here runs in linear time: a log line may quote a megabyte that came from the network.
"""

from __future__ import annotations

import logging
import re
import reprlib

MASK = "***"
MAX_MESSAGE = 4096  # characters of one log message (and of each traceback line) kept by the filter
_secrets: set[str] = set()
# `://user:` and the rest of the URL (it ends at whitespace or a quote): found by the literal '://', each run
# stops at the first character it excludes, so no text is scanned twice (no nested or adjacent ambiguity).
_URL_CREDENTIALS = re.compile(r"://(?P<user>[^\s\"'<>`/@:]*):(?P<rest>[^\s\"'<>`]*)")
# `user-pw=secret`, `password="se cret"`: GStreamer (rtspsrc, souphttpsrc) and query-string forms. The value is
# a quoted string (up to its closing quote, or the end) or a run of non-space; no nested quantifiers.
_KEY_VALUE = re.compile(r"(?<![A-Za-z0-9])(?P<key>(?:user|proxy)-(?:id|pw)|password|passwd|pwd)(?P<eq>\s*=\s*)"
                        r"(?P<value>\"[^\"]*\"?|'[^']*'?|[^\s\"']+)", re.IGNORECASE)


def register(secret: str | None) -> None:
    """Mask `secret` in every later log line (ignored when empty or shorter than 4 characters)."""
    if secret and len(secret) >= 4:
        _secrets.add(secret)


def _mask_credentials(m: re.Match[str]) -> str:
    # The password runs to the LAST '@' of the URL: one holding '@' or '/' (`p@ss/w0rd`) is masked whole. A path
    # holding '@' is masked too: too much hidden is better than a password shown.
    rest = m["rest"]
    at = rest.rfind("@")
    return m.group() if at < 0 else f"://{m['user']}:{MASK}{rest[at:]}"


def redact_url(text: str) -> str:
    """`rtsp://user:pass@host/...` -> `rtsp://user:***@host/...` and `user-pw=pass` -> `user-pw=***` in `text`."""
    return _KEY_VALUE.sub(lambda m: f"{m['key']}{m['eq']}{MASK}", _URL_CREDENTIALS.sub(_mask_credentials, text))


def redact(text: str) -> str:
    """`text` with URL credentials, pipeline passwords and every registered secret masked."""
    text = redact_url(text)
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def cap_text(text: str, limit: int = MAX_MESSAGE, mark: str | None = None) -> str:
    """`text` in at most `limit` characters: the one rule for capping text (log lines, errors, verdict fields).

    A cut text ends with `mark` when one is given (the verdict's fixed `...[cut]`, so a field's length is
    its schema's maxLength), else with a note saying how many were cut: `abc... (1234 characters cut)`.
    The ending counts against the limit, so capping twice (two handlers, each with the filter) changes nothing."""
    if len(text) <= limit:
        return text
    if mark is not None:
        return text[:max(0, limit - len(mark))] + mark
    keep = max(0, limit - len(f"... ({len(text)} characters cut)"))  # the note for the most that could be cut
    return f"{text[:keep]}... ({len(text) - keep} characters cut)"


def escape_non_utf8(text: str) -> str:
    """`text` with what UTF-8 cannot carry (lone surrogates: a file name that was not UTF-8, decoded with
    surrogateescape) as backslash escapes (`\\udcff`); valid text is returned unchanged."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def cap(value: object, limit: int = 200) -> str:
    """repr(value) for a log line or an error message, at most `limit` characters (at least 40); never raises.

    Like reprlib: long strings, bytes and containers are shortened before they are formatted (a megabyte
    costs no more than a short value), and a cut value ends with `...` and its length.
    """
    limit = max(40, limit)
    short = reprlib.Repr()
    short.maxstring, short.maxother, short.maxlong = limit // 4, limit // 2, limit
    short.maxlevel, short.maxlist, short.maxtuple, short.maxdict, short.maxset = 3, 20, 20, 20, 20
    sized = isinstance(value, (str, bytes, bytearray))
    try:
        text = repr(value[:limit]) if sized else short.repr(value)  # type: ignore[index]
    except Exception:  # noqa: BLE001 - a broken __repr__ must not break the message that quotes it
        return f"<{type(value).__name__} object (repr failed)>"
    # repr(value[:limit]) of a longer str/bytes is itself over the limit (its quotes), so it is always cut
    note = f"... (length {len(value)})" if sized else "..."  # type: ignore[arg-type]
    return cap_text(text, limit, mark=note)


class RedactingFilter(logging.Filter):
    """Rewrites each record's final message (and its exception text) with redact(), capped at MAX_MESSAGE.

    Never raises: a log call whose arguments do not fit its format string is logged with its format string
    and arguments quoted (as logging's own handleError would report it) rather than failing its caller.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception as exc:  # noqa: BLE001 - a bad log call is a bug to report, not a crash
            message = (f"{cap(record.msg, 1000)} % {cap(record.args, 1000)} (log call at {record.pathname}:"
                       f"{record.lineno} could not be formatted: {type(exc).__name__}: {exc})")
            record.msg, record.args = message, None
        clean = cap_text(redact(message))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = "\n".join(cap_text(line) for line in redact(record.exc_text).split("\n"))
        if record.stack_info:
            record.stack_info = cap_text(redact(record.stack_info), 8 * MAX_MESSAGE)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install() -> None:
    """Filter every handler of the root logger (call after logging is configured)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
