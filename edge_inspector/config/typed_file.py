"""One config file of a tool beside the daemon (BRIDGE.yaml, OPCUA.yaml) read the way the station config is: the
bounded YAML reader (yaml_safe.py), the one typed builder (typed_build.build_typed), the tool's own checks, and
every problem as the station config's one line (loader.located: file, key, value and line)."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .key_problem import KeyProblem
from .loader import located
from .typed_build import build_typed
from .yaml_safe import YamlFileError, read_yaml

T = TypeVar("T")


def read_typed_file(path: Path, cls: type[T], *, what: str, max_bytes: int, check: Callable[[T, object], None],
                    error: Callable[[str], Exception]) -> T:
    """`cls` (a dataclass) built from the YAML file at `path` (at most `max_bytes`) and passed to
    `check(built, raw data)`, which raises KeyProblem; `error(message)` for every problem, FileNotFoundError when
    the file is absent. A section given as null (every line below it commented out) takes its defaults."""
    try:
        doc = read_yaml(path, what=what, max_bytes=max_bytes)
    except YamlFileError as exc:
        raise error(str(exc)) from None
    data = {} if doc.data is None else doc.data
    if isinstance(data, dict):
        hints = typing.get_type_hints(cls)
        sections = {f.name for f in dataclasses.fields(cls) if dataclasses.is_dataclass(hints[f.name])}  # type: ignore[arg-type]
        data = {k: ({} if v is None and k in sections else v) for k, v in data.items()}
    try:
        built = build_typed(cls, data)
        check(built, data)
    except KeyProblem as exc:
        raise error(located(path, exc, doc.lines)) from None
    return built
