"""Parsed YAML -> typed config models: unknown keys refused, types checked strictly (no silent coercion of "abc"
to a port); every error names the key path."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from .key_problem import KeyProblem, describe
from .models import Config


def parse_config(data: object) -> Config:
    """Validate a plain mapping (already parsed YAML) into a Config."""
    if not isinstance(data, dict):
        raise KeyProblem("<root>", f"expected a mapping, got {describe(data)}")
    result = _build(Config, data, "")
    assert isinstance(result, Config)
    return result


def _build(cls: type, data: dict[str, Any], prefix: str) -> object:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in names:
            known = ", ".join(sorted(names))
            raise KeyProblem(path, f"unknown key (known keys here: {known})")
        kwargs[key] = _convert(hints[key], value, path)
    return cls(**kwargs)


def _convert(tp: Any, value: Any, path: str) -> Any:  # noqa: PLR0911 - one branch per type kind
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise KeyProblem(path, f"expected a mapping, got {describe(value)}")
        return _build(tp, value, path + ".")
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
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
        return float(value)
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
