"""The one error the config's checks raise (a key path and what is wrong with its value; config/loader.py turns it
into a ConfigError naming the file and the line) and the helpers that phrase it."""

from __future__ import annotations

from .redact import cap
from .yaml_safe import VALUE_CHARS


class KeyProblem(Exception):
    """`key` (a dotted path, e.g. mqtt.port) holds a value that `problem` describes."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


def describe(value: object) -> str:
    """A value as an error message shows it: short strings quoted, containers by type, the rest capped."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return f'"{value}"' if len(value) <= VALUE_CHARS and value.isprintable() else cap(value, VALUE_CHARS)
    if isinstance(value, (dict, list)):
        return type(value).__name__
    return cap(value, VALUE_CHARS)


def positive(key: str, value: int) -> None:
    """Refuse an integer below 1 at `key`."""
    if value < 1:
        raise KeyProblem(key, f"expected >= 1, got {value}")
