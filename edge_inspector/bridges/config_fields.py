"""Strict readers for one mapping of a bridge config: unknown keys refused, every error names key and value."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..config.loader import ConfigError
from ..config.redact import cap
from ..config.yaml_safe import label, one_line


class Section:
    """One mapping of the file; take each key once with a typed getter, then done() refuses what is left."""

    def __init__(self, path: Path, where: str, data: Any, lines: dict[str, int]) -> None:
        self.path, self.where, self.lines = path, where, lines
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.fail(where or "<root>", data, "expected a mapping")
        self.data: dict[Any, Any] = dict(data)
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def fail(self, key: str, value: object, expected: str) -> None:
        line = self.lines.get(key)
        at = f" (line {line})" if line else ""
        raise ConfigError(one_line(f"{self.path}: {key}{at}: {expected}, got {cap(value, 80)}"))

    def _raw(self, name: str, default: object) -> Any:
        self._seen.add(name)
        return self.data.get(name, default)

    def string(self, name: str, default: str | None, *, choices: tuple[str, ...] = (), max_len: int = 256,
               required: bool = False) -> str | None:
        value = self._raw(name, default)
        if value is None and not required:
            return None
        ok = isinstance(value, str) and 0 < len(value) <= max_len and value.isprintable()
        if not ok or (choices and value not in choices):
            want = f"one of {', '.join(choices)}" if choices else f"a printable string of 1-{max_len} characters"
            self.fail(self.key(name), value, f"expected {want}")
        return value

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        value = self._raw(name, default)
        if not (isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi):
            self.fail(self.key(name), value, f"expected an integer {lo}-{hi}")
        return int(value)

    def number(self, name: str, default: float, lo: float, hi: float) -> float:
        value = self._raw(name, default)
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                and lo <= value <= hi):
            self.fail(self.key(name), value, f"expected a number {lo:g}-{hi:g}")
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self._raw(name, default)
        if not isinstance(value, bool):
            self.fail(self.key(name), value, "expected true or false")
        return bool(value)

    def path_value(self, name: str) -> Path | None:
        value = self.string(name, None, max_len=4096)
        return None if value is None else Path(value)

    def section(self, name: str) -> Section:
        return Section(self.path, self.key(name), self._raw(name, None), self.lines)

    def done(self) -> None:
        """Refuse the keys nobody took (a typo must not silently fall back to a default)."""
        for name in self.data:
            if name not in self._seen:
                known = ", ".join(sorted(self._seen))
                self.fail(self.key(label(name)), self.data[name], f"unknown key (known here: {known})")
