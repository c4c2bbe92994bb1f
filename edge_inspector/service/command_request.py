"""Command requests as they arrive (MQTT command topic, dashboard HTTP API): parsed and bounded before anything else.

parse_request() is context-free and cheap: types, finite numbers, and a limit on every field, so nothing a
sender writes costs more than its size to refuse and no refusal echoes more than a capped excerpt. The checks
that need the daemon's state (the calibrated score range, the frame size) are command_limits.py's.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config.redact import cap, cap_text
from ..json_numbers import finite_float

ACTIONS = ("show", "set", "history", "rollback", "what-if")
CHANGES = ("set", "rollback")  # the actions that write a revision: their ids are remembered
ID_MAX = 128  # characters
AUTHOR_MAX = 64
REASON_MAX = 500
COORD_MAX = 65535  # an ROI corner (x + width, y + height) lies within this, whatever the frame
AREA_MAX = 10**8  # min_area in pixels, whatever the frame (a 10000x10000 image)
ERROR_MAX = 400  # characters of an `error` sent back
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # no line breaks or escapes in ids, names and reasons (log lines)


class CommandError(ValueError):
    """A request the daemon refuses; the message names the key and is sent back as `error`."""


def _num(v: Any) -> bool:
    return finite_float(v) is not None


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _roi(v: Any) -> bool:
    return v is None or (isinstance(v, list) and len(v) == 4 and all(_int(x) for x in v)
                         and v[0] >= 0 and v[1] >= 0 and v[2] > 0 and v[3] > 0
                         and v[0] + v[2] <= COORD_MAX and v[1] + v[3] <= COORD_MAX)


# set key -> (check, what it expects)
SET_KEYS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "image_threshold": (_num, "a finite number"),
    "pixel_threshold": (_num, "a finite number"),
    "min_area": (lambda v: _int(v) and 0 <= v <= AREA_MAX, f"an integer from 0 to {AREA_MAX} (pixels)"),
    "min_peak": (lambda v: _num(v) and v >= 0, "a finite number >= 0"),
    "roi": (_roi, f"[x, y, width, height] (x, y >= 0, width, height > 0, x + width and y + height <= {COORD_MAX}) "
                  "or null"),
}
_TOP = ("id", "action", "author", "reason", "set", "revision", "ts", "force")


@dataclass(frozen=True)
class Request:
    """One validated command."""

    id: str
    action: str
    author: str | None = None
    reason: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    revision: int | None = None
    ts: float | None = None  # when the sender made it (epoch seconds), if it says
    force: bool = False  # set/what-if: numbers outside the calibrated range are accepted (and audited as forced)


def _label(v: Any, limit: int) -> bool:
    return isinstance(v, str) and 1 <= len(v) <= limit and not _CONTROL.search(v)


def request_id(data: Any) -> str | None:
    """The id to answer to: a string of 1-128 characters without control characters, or None (no answer)."""
    rid = data.get("id") if isinstance(data, dict) else None
    return rid if _label(rid, ID_MAX) else None


def parse_request(data: Any) -> Request:
    """Validate one request object; CommandError names the first bad key and quotes at most a capped excerpt."""
    if not isinstance(data, dict):
        raise CommandError(f"request: expected a JSON object, got {type(data).__name__}")
    unknown = [k for k in data if k not in _TOP]
    if unknown:
        first = cap_text(str(min(unknown, key=str)), 60)
        raise CommandError(f"{first}: unknown key (known: {', '.join(sorted(_TOP))})")
    if request_id(data) is None:
        raise CommandError(f"id: required, a string of 1-{ID_MAX} characters without control characters, "
                           f"got {cap(data.get('id'), 80)}")
    action = data.get("action")
    if action not in ACTIONS:
        raise CommandError(f"action: expected one of {', '.join(ACTIONS)}, got {cap(action, 60)}")
    author = _text(data, "author", AUTHOR_MAX, required=action in CHANGES)
    reason = _text(data, "reason", REASON_MAX, required=action in CHANGES)
    changes = _changes(data, action)
    revision = data.get("revision")
    if action == "rollback" and not (isinstance(revision, int) and not isinstance(revision, bool) and revision >= 1):
        raise CommandError(f"revision: required for rollback, an integer >= 1, got {cap(revision, 60)}")
    if action != "rollback" and revision is not None:
        raise CommandError(f"revision: only for action rollback, not {action}")
    ts = data.get("ts")
    if ts is not None and not _num(ts):
        raise CommandError(f"ts: expected epoch seconds (a finite number), got {cap(ts, 60)}")
    force = data.get("force", False)
    if not isinstance(force, bool):
        raise CommandError(f"force: expected true or false, got {cap(force, 60)}")
    if force and action not in ("set", "what-if"):
        raise CommandError(f"force: only for actions set and what-if, not {action}")
    return Request(data["id"], action, author, reason, changes, revision, None if ts is None else float(ts), force)


def _text(data: dict[str, Any], key: str, limit: int, required: bool) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not (isinstance(value, str) and value.strip() and len(value) <= limit and not _CONTROL.search(value)):
        need = f"required for {data['action']}, " if required else ""
        raise CommandError(f"{key}: {need}a non-blank string of at most {limit} characters without control "
                           f"characters, got {cap(value, 80)}")
    return value


def _changes(data: dict[str, Any], action: str) -> dict[str, Any]:
    if action not in ("set", "what-if"):
        if "set" in data:
            raise CommandError(f"set: only for actions set and what-if, not {action}")
        return {}
    changes = data.get("set")
    if not isinstance(changes, dict) or not changes:
        raise CommandError(f"set: expected an object with at least one of {', '.join(SET_KEYS)}, "
                           f"got {cap(changes, 80)}")
    for key, value in changes.items():
        if key not in SET_KEYS:
            raise CommandError(f"set.{cap_text(str(key), 60)}: unknown key (known: {', '.join(SET_KEYS)})")
        check, expected = SET_KEYS[key]
        if not check(value):
            raise CommandError(f"set.{key}: expected {expected}, got {cap(value, 80)}")
    return dict(changes)


def clip(error: str) -> str:
    """An error text as it is sent back and logged: one line of at most ERROR_MAX characters."""
    line = error.splitlines()[0] if error.strip() else error
    return cap_text(line, ERROR_MAX, mark="...")


class RecentIds:
    """The ids of the last `limit` changes taken (oldest forgotten first), each with what became of it; thread-safe.

    A change is carried out once per id: the same message delivered twice (a resend, a broker's redelivery)
    finds its id here and is answered as a duplicate instead of making a second revision."""

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self._ids: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, rid: str) -> str | None:
        """None when `rid` is new (now remembered as pending); otherwise what became of the earlier one."""
        with self._lock:
            if rid in self._ids:
                return self._ids[rid]
            self._ids[rid] = "not carried out yet"
            while len(self._ids) > self.limit:
                self._ids.popitem(last=False)
            return None

    def done(self, rid: str, outcome: str | None) -> None:
        """Record the outcome; None forgets the id (nothing changed: the same id may be sent again)."""
        with self._lock:
            if outcome is None:
                self._ids.pop(rid, None)
            elif rid in self._ids:
                self._ids[rid] = outcome

    def __len__(self) -> int:
        return len(self._ids)
