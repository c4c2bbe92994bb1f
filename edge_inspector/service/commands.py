"""Commands: the one way to change inspection settings at runtime (the MQTT command topic and the dashboard's HTTP API).

submit() may be called from any thread (paho's network thread, an HTTP handler): it validates the
request (cheap dict checks) and queues it, or answers at once (bad request, queue full: "busy").
apply_pending() runs on the inspection thread between two frames, so every frame is judged with the
old or the new numbers, never a mix. A change is persisted first (a new profile revision with author
and reason; revisions only grow, a rollback is a new revision) and swapped in second: when the save
fails nothing changes. Then the answer goes out, the retained status announces the new revision and
the audit log gets a `"kind": "command"` line. Access control is the transport's (the broker's ACL, the
dashboard's token). A `what-if` changes nothing: it replays the proposal over the kept inspections
(what_if.py) on the caller's thread, one at a time, and answers at once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..publish.contract import command_response_payload
from .profile_settings import InspectionSettings, settings_from_profile
from .proposal import STALE, edited_profile, proposed_settings
from .what_if import InspectionMemory, replay

if TYPE_CHECKING:
    from ..calibration import Profile
    from ..config import InspectionConfig

log = logging.getLogger(__name__)
ACTIONS = ("show", "set", "history", "rollback", "what-if")
NO_PROFILE = ("no calibration profile in force: start the daemon with inspection.profile "
              "(edge-inspector calibrate)")
HISTORY_LIMIT = 100  # newest revisions listed by `history`
Reply = Callable[[dict[str, Any]], None]


class CommandError(ValueError):
    """A request the daemon refuses; the message names the key and is sent back as `error`."""


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _roi(v: Any) -> bool:
    return v is None or (isinstance(v, list) and len(v) == 4 and all(_int(x) for x in v)
                         and v[0] >= 0 and v[1] >= 0 and v[2] > 0 and v[3] > 0)


# set key -> (check, what it expects)
SET_KEYS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "image_threshold": (_num, "a finite number"),
    "pixel_threshold": (_num, "a finite number"),
    "min_area": (lambda v: _int(v) and v >= 0, "an integer >= 0 (pixels)"),
    "min_peak": (lambda v: _num(v) and v >= 0, "a finite number >= 0"),
    "roi": (_roi, "[x, y, width, height] (x, y >= 0, width, height > 0) or null"),
}
_TOP = {"id", "action", "author", "reason", "set", "revision"}


@dataclass(frozen=True)
class Request:
    """One validated command."""

    id: str
    action: str
    author: str | None = None
    reason: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    revision: int | None = None


def request_id(data: Any) -> str | None:
    """The id to echo, when one can be read from a (possibly invalid) request."""
    rid = data.get("id") if isinstance(data, dict) else None
    return rid if isinstance(rid, str) and rid else None


def parse_request(data: Any) -> Request:
    """Validate one request object; CommandError names the first bad key."""
    if not isinstance(data, dict):
        raise CommandError(f"request: expected a JSON object, got {type(data).__name__}")
    unknown = sorted(str(k) for k in set(data) - _TOP)
    if unknown:
        raise CommandError(f"{unknown[0]}: unknown key (known: {', '.join(sorted(_TOP))})")
    if request_id(data) is None or len(data["id"]) > 128:
        raise CommandError(f"id: required, a non-empty string of at most 128 characters, got {data.get('id')!r}")
    action = data.get("action")
    if action not in ACTIONS:
        raise CommandError(f"action: expected one of {', '.join(ACTIONS)}, got {action!r}")
    for key in ("author", "reason"):
        value = data.get(key)
        if action in ("set", "rollback") and not (isinstance(value, str) and value.strip()):
            raise CommandError(f"{key}: required for {action}, a non-empty string, got {value!r}")
        if value is not None and not isinstance(value, str):
            raise CommandError(f"{key}: expected a string, got {value!r}")
    changes: dict[str, Any] = {}
    if action in ("set", "what-if"):
        changes = data.get("set")  # type: ignore[assignment]
        if not isinstance(changes, dict) or not changes:
            raise CommandError(f"set: expected an object with at least one of {', '.join(SET_KEYS)}, "
                               f"got {changes!r}")
        for key, value in changes.items():
            if key not in SET_KEYS:
                raise CommandError(f"set.{key}: unknown key (known: {', '.join(SET_KEYS)})")
            check, expected = SET_KEYS[key]
            if not check(value):
                raise CommandError(f"set.{key}: expected {expected}, got {value!r}")
    elif "set" in data:
        raise CommandError(f"set: only for actions set and what-if, not {action}")
    revision = data.get("revision")
    if action == "rollback" and not (isinstance(revision, int) and not isinstance(revision, bool) and revision >= 1):
        raise CommandError(f"revision: required for rollback, an integer >= 1, got {revision!r}")
    if action != "rollback" and revision is not None:
        raise CommandError(f"revision: only for action rollback, not {action}")
    return Request(data["id"], action, data.get("author"), data.get("reason"), dict(changes), revision)


class SettingsHolder(Protocol):
    """What the processor changes: the daemon (settings in force, swapped on its inspection thread)."""

    settings: InspectionSettings

    def use_settings(self, settings: InspectionSettings) -> None: ...


def profile_view(settings: InspectionSettings) -> dict[str, Any] | None:
    """The `profile` object of a response: the numbers in force, or None without a profile."""
    p = settings.profile
    if p is None:
        return None
    return {"product": p.product, "station": p.station, "revision": p.revision,
            "image_threshold": float(p.thresholds["image"]), "pixel_threshold": float(p.thresholds["pixel"]),
            "min_area": int(p.regions["min_area"]), "min_peak": float(p.regions["min_peak"]),
            "roi": None if p.roi is None else list(p.roi)}


class CommandProcessor:
    """Owned by the daemon: submit() from any thread, apply_pending() on the inspection thread."""

    def __init__(self, holder: SettingsHolder, inspection: InspectionConfig, station_id: str, run_id: str, *,
                 reply: Reply, announce: Callable[[dict[str, Any]], None] | None = None,
                 audit: Callable[[dict[str, Any]], None] | None = None, maxsize: int = 8,
                 memory: InspectionMemory | None = None) -> None:
        self.holder, self.inspection = holder, inspection
        self.station_id, self.run_id = station_id, run_id
        self._reply, self._announce, self._audit = reply, announce, audit
        self._queue: queue.Queue[tuple[Request, Reply, float]] = queue.Queue(maxsize=maxsize)
        self.memory = memory
        self._replaying = threading.Lock()
        self.applied = self.refused = 0

    # --- any thread ------------------------------------------------------------------------------------
    def submit_json(self, payload: bytes) -> None:
        """A raw message from the command topic; never raises."""
        try:
            data = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.refused += 1
            log.warning("command refused: not a JSON object (%s); no id to answer", exc)
            return
        self.submit(data)

    def submit(self, data: Any, reply: Reply | None = None, expires_in: float | None = None) -> None:
        """Validate and queue one request; `reply` (default: the response topic) gets the answer.

        A request not carried out within `expires_in` seconds is refused instead (its HTTP caller stopped
        waiting), so no change is ever applied after its sender was told it timed out."""
        answer = reply or self._reply
        try:
            request = parse_request(data)
        except CommandError as exc:
            self._refuse(request_id(data), str(exc), answer)
            return
        if request.action == "what-if":
            self._what_if(request, answer)
            return
        expires = math.inf if expires_in is None else time.monotonic() + expires_in
        try:
            self._queue.put_nowait((request, answer, expires))
        except queue.Full:
            self._refuse(request.id, f"busy: {self._queue.maxsize} commands already waiting", answer)

    def what_if(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Replay `changes` (validated SET_KEYS) over the kept inspections; CommandError when busy or off."""
        if self.memory is None:
            raise CommandError("what-if: the daemon keeps no inspections (what_if_frames is 0)")
        if not self._replaying.acquire(blocking=False):
            raise CommandError("busy: another what-if is replaying")
        try:
            current = self.holder.settings
            proposed = proposed_settings(current, self.inspection, changes, quiet=True)
            return replay(self.memory.snapshot(), proposed, current)
        finally:
            self._replaying.release()

    def _what_if(self, req: Request, answer: Reply) -> None:
        try:
            result = self.what_if(req.changes)
        except (CommandError, OSError, ValueError) as exc:
            self._refuse(req.id, str(exc).splitlines()[0], answer)
            return
        self._send(answer, {**self._response(req.id, True, None, []), "what_if": result})

    def _refuse(self, rid: str | None, error: str, answer: Reply) -> None:
        self.refused += 1
        log.warning("command %s refused: %s", rid or "(no id)", error)
        if rid is not None:
            self._send(answer, self._response(rid, False, error, []))

    def _send(self, answer: Reply, payload: dict[str, Any]) -> None:
        try:
            answer(payload)
        except Exception:  # noqa: BLE001 - a failing transport must not stop inspection
            log.exception("command response %s not sent", payload.get("id"))

    def _response(self, rid: str | None, ok: bool, error: str | None, warnings: list[str],
                  history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return command_response_payload(self.station_id, self.run_id, rid, ok=ok, error=error,
                                        profile=profile_view(self.holder.settings), warnings=warnings,
                                        history=history)

    # --- inspection thread -----------------------------------------------------------------------------
    def apply_pending(self) -> int:
        """Carry out every queued command (call between two frames); returns how many ran."""
        done = 0
        while True:
            try:
                request, answer, expires = self._queue.get_nowait()
            except queue.Empty:
                return done
            done += 1
            if time.monotonic() > expires:
                self._refuse(request.id, "expired: the daemon did not reach it before its sender stopped waiting; "
                                         "nothing changed", answer)
                continue
            self._run(request, answer)

    def _run(self, req: Request, answer: Reply) -> None:
        warnings: list[str] = []
        history: list[dict[str, Any]] | None = None
        error: str | None = None
        try:
            if req.action == "history":
                history = self._history()
            elif req.action in ("set", "rollback"):
                warnings = self._change(req)
            elif self.holder.settings.profile is None:
                s = self.holder.settings
                warnings = [f"no calibration profile in force: image threshold {s.threshold:.6g} and pixel "
                            f"threshold {s.pixel_threshold:.6g} come from the config or the model"]
        except Exception as exc:  # noqa: BLE001 - a refused command answers, it never stops the daemon
            error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if not isinstance(exc, (CommandError, OSError)):
                log.warning("command %s (%s) failed", req.id, req.action, exc_info=True)
        payload = self._response(req.id, error is None, error, warnings, history)
        if error is None:
            self.applied += 1
        else:
            self.refused += 1
            log.warning("command %s (%s) refused: %s", req.id, req.action, error)
        self._send(answer, payload)
        if req.action in ("set", "rollback") and self._audit is not None:
            record = {"kind": "command", **{k: v for k, v in payload.items() if k != "history"},
                      "request": {"action": req.action, "author": req.author, "reason": req.reason,
                                  "set": req.changes or None, "revision": req.revision}}
            try:
                self._audit(record)
            except Exception:  # noqa: BLE001 - counted by the log; the change itself stands
                log.exception("audit line for command %s not written", req.id)

    def _current(self) -> tuple[Profile, Path, Path]:
        s = self.holder.settings
        if s.profile is None or s.profile_path is None:
            raise CommandError(NO_PROFILE)
        from ..calibration.profile import profile_path

        root = s.profile_path.parent.parent
        expected = profile_path(root, s.profile.product, s.profile.station)
        if expected.resolve() != s.profile_path.resolve():
            raise CommandError(f"profile {s.profile_path} is not stored as <root>/<product>/<station>.yaml "
                               f"({expected}): revisions cannot be saved beside it")
        return s.profile, s.profile_path, root

    def _history(self) -> list[dict[str, Any]]:
        from ..calibration import list_history

        current, _, root = self._current()
        return [{"revision": p.revision, "created_at": p.created_at, "author": p.author, "reason": p.reason,
                 "image_threshold": float(p.thresholds["image"]), "pixel_threshold": float(p.thresholds["pixel"])}
                for p in list_history(root, current.product, current.station)[-HISTORY_LIMIT:]]

    def _change(self, req: Request) -> list[str]:
        from ..calibration.profile import next_revision, save_profile

        current, path, root = self._current()
        new = self._rollback_target(req, current, root) if req.action == "rollback" \
            else edited_profile(current, req.changes)
        new.author, new.reason = str(req.author), str(req.reason)
        new.created_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        predicted = new.revision = next_revision(root, new.product, new.station)
        settings = settings_from_profile(self.inspection, new, path)  # refuses e.g. a missing mask: nothing saved
        save_profile(new, root)  # persist first ...
        if new.revision != predicted:  # another writer saved a revision in between
            settings = settings_from_profile(self.inspection, new, path)
        self.holder.use_settings(settings)  # ... swap second
        if self._announce is not None and settings.profile_status is not None:
            self._announce(settings.profile_status)
        log.info("command %s by %s: %s -> profile r%d (%s)", req.id, req.author, req.action, new.revision, req.reason)
        warnings = [w for w in new.warnings if STALE.match(w)]
        if new.thresholds["pixel"] > new.thresholds["image"]:
            warnings.append(f"pixel_threshold {new.thresholds['pixel']:.6g} is above image_threshold "
                            f"{new.thresholds['image']:.6g}")
        return warnings

    def _rollback_target(self, req: Request, current: Profile, root: Path) -> Profile:
        from ..calibration.profile import history_path, load_profile

        assert req.revision is not None
        target_file = history_path(root, current.product, current.station, req.revision)
        if not target_file.is_file():
            raise CommandError(f"revision: {req.revision} not in the history of {current.product}/"
                               f"{current.station} ({target_file} not found)")
        target = load_profile(target_file)
        if target.model["fingerprint"] != current.model["fingerprint"]:
            raise CommandError(f"revision: {req.revision} was calibrated for model {target.model['model_id']} "
                               f"({target.model['fingerprint']}), not the loaded one")
        return target
