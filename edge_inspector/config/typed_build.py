"""Parsed YAML -> typed config models: unknown keys refused, types checked strictly (no silent coercion of "abc"
to a port); every error names the key path. `build_typed` is the one builder for every config file of the
package (the station's, the reject bridge's, the OPC UA server's); each adds its own range and cross checks."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from .key_problem import KeyProblem, describe
from .models import Config


def parse_config(data: object) -> Config:
    """Validate a plain mapping (already parsed YAML) into a Config."""
    if not isinstance(data, dict):
        raise KeyProblem("<root>", f"expected a mapping, got {describe(data)}")
    return build_typed(Config, data)


T = TypeVar("T")


def build_typed(cls: type[T], data: object, prefix: str = "") -> T:
    """An instance of the dataclass `cls` from a plain mapping (parsed YAML): each key must be a field (fields
    with init=False cannot be set), each value its field's type (nested dataclasses, X | None, Literal, list[X],
    Path, bool/int/float/str, never coerced); missing keys take the defaults. KeyProblem names the key path,
    `prefix` + key (prefix "mqtt." for a section)."""
    if not isinstance(data, dict):
        raise KeyProblem(prefix.removesuffix(".") or "<root>", f"expected a mapping, got {describe(data)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in names:
            known = ", ".join(sorted(names))
            raise KeyProblem(path, f"unknown key (known keys here: {known}), got {describe(value)}")
        kwargs[key] = _convert(hints[key], value, path)
    return cls(**kwargs)


def _convert(tp: Any, value: Any, path: str) -> Any:  # noqa: PLR0911 - one branch per type kind
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise KeyProblem(path, f"expected a mapping, got {describe(value)}")
        return build_typed(tp, value, path + ".")
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        real = [option for option in options if option is not type(None)]
        if len(real) == 1:  # X | None: X's own error, with its own key path inside a section or list
            return _convert(real[0], value, path)
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, path)
            except KeyProblem as exc:
                errors.append(exc.problem.removeprefix("expected ").split(", got")[0])
        raise KeyProblem(path, f"expected {' or '.join(errors)}, got {describe(value)}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise KeyProblem(path, f"expected one of {', '.join(map(str, allowed))}, got {describe(value)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise KeyProblem(path, f"expected true or false, got {describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise KeyProblem(path, f"expected integer, got {describe(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise KeyProblem(path, f"expected number, got {describe(value)}")
        try:
            return float(value)
        except OverflowError:  # an integer of hundreds of digits: no float holds it
            raise KeyProblem(path, f"expected a number within +-1.8e308, got {describe(value)}") from None
    if tp is str:
        if not isinstance(value, str):
            raise KeyProblem(path, f"expected string, got {describe(value)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise KeyProblem(path, f"expected a list, got {describe(value)}")
        (item,) = get_args(tp)
        return [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise KeyProblem(path, f"expected a path string, got {describe(value)}")
        return Path(os.path.expanduser(value))
    raise KeyProblem(path, f"unsupported type {tp}")
