"""Range, length and presence checks for the config files whose limits are a table (the reject bridge's and the
OPC UA server's): after typed_build.build_typed has checked the types, check_limits walks the built dataclass
tree and holds every number to its (low, high) and every text to printable characters of a bounded length.
Each problem is a KeyProblem, so the file's loader names file, key, value and line (config/loader.located)."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .key_problem import KeyProblem, describe

Limit = tuple[float, float] | int  # (low, high) for a number (inclusive), the most characters for a text


def check_limits(obj: object, limits: Mapping[str, Limit], *, text_max: int,
                 numbers: tuple[float, float] | None = None, list_max: int | None = None) -> None:
    """Check every field of the dataclass tree `obj`: a number against limits[key] (else `numbers`, if given),
    a text or path against limits[key] characters (else `text_max`), a list against `list_max` items. Keys are
    dotted paths (`mqtt.port`); list items are looked up without their index (`opcua.users.username`)."""
    for key, value in leaves(obj):
        limit = limits.get(re.sub(r"\[\d+\]", "", key))
        if isinstance(value, list):
            if list_max is not None and len(value) > list_max:
                raise KeyProblem(key, f"expected a list of at most {list_max} items, got {len(value)}")
        elif isinstance(value, (str, Path)):
            printable(key, str(value), limit if isinstance(limit, int) else text_max)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            bounds = limit if isinstance(limit, tuple) else numbers
            if bounds is not None:
                within(key, value, *bounds)


def check_integers(obj: object, low: int, high: int, floats: float | None = None) -> None:
    """KeyProblem for the first integer field of the dataclass tree `obj` outside `low`..`high` (and, with
    `floats`, the first float that is not finite or is beyond +-floats): the floor under every count, size,
    index and duration of a config whose own checks bound only some of them."""
    for key, value in leaves(obj):
        if isinstance(value, int) and not isinstance(value, bool):
            within(key, value, low, high)
        elif floats is not None and isinstance(value, float):
            within(key, value, -floats, floats)


def leaves(obj: object, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every field of a dataclass tree, nested dataclasses descended, list items as
    key[i] after the list itself."""
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        if f.init:
            yield from _walk(prefix + f.name, getattr(obj, f.name))


def _walk(key: str, value: Any) -> Iterator[tuple[str, Any]]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        yield from leaves(value, key + ".")
        return
    yield key, value
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(f"{key}[{i}]", item)


def within(key: str, value: float, low: float, high: float) -> None:
    """KeyProblem unless `value` is a finite number from `low` to `high`."""
    # an int is compared as an int: math.isfinite(10**400) raises OverflowError
    if not ((isinstance(value, int) or math.isfinite(value)) and low <= value <= high):
        what = "an integer" if isinstance(value, int) else "a number"
        raise KeyProblem(key, f"expected {what} from {_num(low)} to {_num(high)}, got {describe(value)}")


def printable(key: str, value: str, max_len: int) -> None:
    """KeyProblem unless `value` is 1 to `max_len` printable characters."""
    if not (0 < len(value) <= max_len and value.isprintable()):
        raise KeyProblem(key, f"expected printable text of 1 to {max_len} characters, got {describe(value)}")


def require(data: object, key: str, problem: str) -> None:
    """KeyProblem(key, problem) unless the raw mapping `data` (parsed YAML) holds the dotted `key` (not null)."""
    node: Any = data
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        if part.startswith("["):
            index = int(part[1:-1])
            node = node[index] if isinstance(node, list) and index < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        raise KeyProblem(key, problem)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
