"""Type and range checks for one value of OPCUA.yaml (config.py walks the file, this judges each value)."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any, Protocol

from ..config.yaml_safe import label

NAME = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")  # station ids, run ids and usernames, as in the MQTT contract
MAX_TEXT = 1024  # characters of one string value (paths, URLs, names)
MAX_LIST = 64  # items of one list value (policies, trusted certificates, users)
# inclusive bounds of the integer keys; a key not listed here takes any integer >= 0
BOUNDS: dict[str, tuple[int, int]] = {
    "mqtt.port": (1, 65535),
    "mqtt.keepalive": (5, 3600),
    "mqtt.max_message_bytes": (1024, 16 * 1024 * 1024),
    "opcua.dedup_window": (1, 10_000_000),
}


class _Where(Protocol):
    def error(self, key: str, problem: str) -> Exception: ...


def check_value(where: _Where, key: str, value: Any, kind: Any) -> Any:
    """`value` checked against the annotation `kind` (str, int, bool, Path, X | None, list[X]); raises
    where.error(key, ...) naming the expected type and the capped value."""
    if isinstance(kind, str):  # `from __future__ import annotations` leaves dataclass field types as text
        kind = _ANNOTATIONS[kind]
    args = typing.get_args(kind)
    if isinstance(kind, types.UnionType):
        if value is None and type(None) in args:
            return None
        kind = next(a for a in args if a is not type(None))
        args = typing.get_args(kind)
    if typing.get_origin(kind) is list:
        if not isinstance(value, list) or len(value) > MAX_LIST:
            raise where.error(key, f"expected a list of at most {MAX_LIST} items, got {_show(value)}")
        return [check_value(where, f"{key}[{i}]", item, args[0]) for i, item in enumerate(value)]
    if kind is bool:
        if not isinstance(value, bool):
            raise where.error(key, f"expected true or false, got {_show(value)}")
        return value
    if kind is int:
        low, high = BOUNDS.get(key, (0, 2**31 - 1))
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise where.error(key, f"expected an integer from {low} to {high}, got {_show(value)}")
        return value
    if kind in (str, Path):
        if not isinstance(value, str) or not value or len(value) > MAX_TEXT or not value.isprintable():
            raise where.error(key, f"expected a non-empty printable text of at most {MAX_TEXT} characters, "
                                   f"got {_show(value)}")
        return Path(value) if kind is Path else value
    raise where.error(key, f"cannot be set in this file (type {kind})")  # a programming error, said plainly


def _show(value: Any) -> str:
    return f"{type(value).__name__} {label(value, 60)!s}" if not isinstance(value, str) else repr(label(value, 60))


_ANNOTATIONS: dict[str, Any] = {
    "str": str, "int": int, "bool": bool, "Path": Path,
    "str | None": str | None, "Path | None": Path | None,
    "list[str]": list[str], "list[Path]": list[Path],
}
