"""Strict validation of a profile's YAML: unknown keys, types and ranges, one line naming file and key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ..config.redact import cap
from ..config.yaml_safe import VALUE_CHARS, label, one_line
from ..errors import UserError
from ..json_numbers import finite_float


class CalibrationError(UserError, ValueError):
    """Bad calibration input (images, flags, policy arguments); one line naming the flag, file or value,
    at most yaml_safe.MAX_ERROR characters."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(str(message)))


class ProfileError(CalibrationError):
    """A calibration profile is invalid, or belongs to another model; one line naming the file and key."""


def _num(v: Any) -> bool:
    return finite_float(v) is not None


def _rate(v: Any) -> bool:
    return _num(v) and 0.0 <= v <= 1.0


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _text(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


# key -> (check, what the check expects); nested sections list their own keys, all required.
_TOP: dict[str, tuple[Any, str]] = {
    "schema_version": (_int, "an integer"),
    "product": (_text, "a non-empty string"),
    "station": (_text, "a non-empty string"),
    "revision": (lambda v: _int(v) and v >= 1, "an integer >= 1"),
    "created_at": (lambda v: isinstance(v, str) and _utc(v), "a UTC ISO time (2026-11-30T12:00:00+00:00)"),
    "author": (_text, "a non-empty string"),
    "reason": (_text, "a non-empty string"),
    "roi": (lambda v: v is None or (isinstance(v, list) and len(v) == 4 and all(_int(x) for x in v)
                                    and v[0] >= 0 and v[1] >= 0 and v[2] > 0 and v[3] > 0),
            "[x, y, width, height] (x, y >= 0, width, height > 0) or null"),
    "ignore_mask": (lambda v: v is None or _text(v), "a PNG path relative to the profile, or null"),
    "warnings": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of strings"),
}
_SECTIONS: dict[str, dict[str, tuple[Any, str]]] = {
    "model": {"model_id": (_text, "a non-empty string"), "fingerprint": (_text, "a non-empty string")},
    "policy": {"name": (lambda v: v in ("target-false-reject", "max-f1", "target-escape", "fixed"),
                        "target-false-reject, max-f1, target-escape or fixed"),
               "params": (lambda v: isinstance(v, dict), "a mapping")},
    "thresholds": {"image": (_num, "a finite number"), "pixel": (_num, "a finite number")},
    "regions": {"min_area": (lambda v: _int(v) and v >= 0, "an integer >= 0 (pixels)"),
                "min_peak": (_num, "a finite number (map value)")},
    "samples": {"good": (lambda v: _int(v) and v >= 1, "an integer >= 1"),
                "defect": (lambda v: _int(v) and v >= 0, "an integer >= 0")},
    "expected": {"false_reject_rate": (_rate, "a rate in [0, 1]"), "false_reject_upper": (_rate, "a rate in [0, 1]"),
                 "escape_rate": (lambda v: v is None or _rate(v), "a rate in [0, 1] or null"),
                 "escape_upper": (lambda v: v is None or _rate(v), "a rate in [0, 1] or null")},
}


def _utc(text: str) -> bool:
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return t.utcoffset() == dt.timedelta(0)


def check_profile_dict(path: Path, data: Any, schema_version: int) -> None:
    """Raise ProfileError for the first problem found, naming `path` and the key path."""
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: expected a mapping of profile keys, got {type(data).__name__}")
    _keys(path, "", data, set(_TOP) | set(_SECTIONS))
    if data["schema_version"] != schema_version:
        raise ProfileError(f"{path}: schema_version: {_show(data['schema_version'])} not supported "
                           f"(expected {schema_version})")
    for key, (check, expected) in _TOP.items():
        if not check(data[key]):
            raise ProfileError(f"{path}: {key}: expected {expected}, got {_show(data[key])}")
    for section, fields in _SECTIONS.items():
        value = data[section]
        if not isinstance(value, dict):
            raise ProfileError(f"{path}: {section}: expected a mapping, got {_show(value)}")
        _keys(path, f"{section}.", value, set(fields))
        for key, (check, expected) in fields.items():
            if not check(value[key]):
                raise ProfileError(f"{path}: {section}.{key}: expected {expected}, got {_show(value[key])}")
    exp, samples = data["expected"], data["samples"]
    if (samples["defect"] == 0) != (exp["escape_rate"] is None) or (exp["escape_rate"] is None) != (
            exp["escape_upper"] is None):
        raise ProfileError(f"{path}: expected.escape_rate: null exactly when samples.defect is 0")
    if exp["false_reject_upper"] < exp["false_reject_rate"]:
        raise ProfileError(f"{path}: expected.false_reject_upper: {exp['false_reject_upper']} is below "
                           f"false_reject_rate {exp['false_reject_rate']}")


def _show(value: Any) -> str:
    return cap(value, VALUE_CHARS)


def _keys(path: Path, prefix: str, data: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(label(k) for k in set(data) - known)
    if unknown:
        raise ProfileError(f"{path}: {prefix}{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")
    missing = sorted(known - set(data))
    if missing:
        raise ProfileError(f"{path}: {prefix}{missing[0]}: missing key")
