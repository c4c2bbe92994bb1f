"""Commands: the one way to change inspection settings at runtime (the MQTT command topic and the dashboard's HTTP API).

submit() may be called from any thread (paho's network thread, an HTTP handler): it validates the
request (cheap, bounded checks: command_request.py) and queues it, or answers at once (bad request, stale,
duplicate id, queue full: "busy"). The ids of the last changes are remembered, so the same request
delivered twice makes one revision; proposed numbers are held to the limits of command_limits.py.
apply_pending() runs on the inspection thread between two frames, so every frame is judged with the
old or the new numbers, never a mix. A change is persisted first (a new profile revision with author
and reason; revisions only grow, a rollback is a new revision: profile_revision.py) and swapped in second:
when the save fails nothing changes. Then the answer goes out, the retained status announces the new
revision and the audit log gets a `"kind": "command"` line (command_response.py). Access control is the
transport's (the broker's ACL, the dashboard's token). A `what-if` changes nothing: it replays the
proposal over the kept inspections (what_if_replayer.py) on the caller's thread, one at a time, and
answers at once.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .command_request import (
    ACTIONS,
    CHANGES,
    SET_KEYS,
    CommandError,
    RecentIds,
    Request,
    clip,
    parse_request,
    request_id,
)
from .command_response import audit_record, response
from .profile_revision import NO_PROFILE, SettingsHolder, save_revision, stored_profile
from .what_if import InspectionMemory
from .what_if_replayer import WhatIfReplayer

if TYPE_CHECKING:
    from ..config import InspectionConfig

log = logging.getLogger(__name__)
__all__ = ["ACTIONS", "NO_PROFILE", "SET_KEYS", "CommandError", "CommandProcessor", "Request", "SettingsHolder",
           "parse_request", "request_id"]
HISTORY_LIMIT = 100  # newest revisions listed by `history`
Reply = Callable[[dict[str, Any]], None]


class CommandProcessor:
    """Owned by the daemon: submit() from any thread, apply_pending() on the inspection thread."""

    def __init__(self, holder: SettingsHolder, inspection: InspectionConfig, station_id: str, run_id: str, *,
                 reply: Reply, announce: Callable[[dict[str, Any]], None] | None = None,
                 audit: Callable[[dict[str, Any]], None] | None = None, maxsize: int = 8,
                 memory: InspectionMemory | None = None, max_age_s: float = 60.0, remember: int = 1000) -> None:
        self.holder, self.inspection = holder, inspection
        self.station_id, self.run_id = station_id, run_id
        self._reply, self._announce, self._audit = reply, announce, audit
        self._queue: queue.Queue[tuple[Request, Reply, float]] = queue.Queue(maxsize=maxsize)
        self.memory = memory
        self._replayer = WhatIfReplayer(holder, inspection, memory)
        self.max_age_s = max_age_s  # a request whose `ts` is older (or further ahead) is refused; 0 = off
        self.recent = RecentIds(remember)
        self.applied = self.refused = self.duplicates = self.stale = 0

    # --- any thread ------------------------------------------------------------------------------------
    def submit_json(self, payload: bytes) -> None:
        """A raw message from the command topic (its size already bounded by the connection); never raises."""
        try:
            data = json.loads(payload.decode("utf-8"))
        except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, a 5000-digit number, deep nesting
            self.refused += 1
            why = clip(str(exc) or type(exc).__name__)
            log.warning("command refused: not a JSON object (%s); no id to answer", why)
            return
        self.submit(data)

    def submit(self, data: Any, reply: Reply | None = None, expires_in: float | None = None) -> None:
        """Validate and queue one request; `reply` (default: the response topic) gets the answer.

        A request not carried out within `expires_in` seconds is refused instead (its HTTP caller stopped
        waiting), so no change is ever applied after its sender was told it timed out."""
        answer = reply or self._reply
        try:
            request = parse_request(data)
            self._check_fresh(request)
        except CommandError as exc:
            self._refuse(request_id(data), str(exc), answer)
            return
        if request.action == "what-if":
            self._what_if(request, answer)
            return
        if request.action == "history":  # a read: answered here from the cached reader, never between frames
            self._history_now(request, answer)
            return
        if request.action in CHANGES:
            earlier = self.recent.take(request.id)
            if earlier is not None:
                self.duplicates += 1
                self._refuse(request.id, f"duplicate: request id {request.id!r} was already received ({earlier}); "
                                         "not carried out again, send a new id to repeat it", answer)
                return
        expires = math.inf if expires_in is None else time.monotonic() + expires_in
        try:
            self._queue.put_nowait((request, answer, expires))
        except queue.Full:
            self.recent.done(request.id, None)
            self._refuse(request.id, f"busy: {self._queue.maxsize} commands already waiting", answer)

    def _check_fresh(self, req: Request) -> None:
        if req.ts is None or self.max_age_s <= 0:
            return
        age = time.time() - req.ts
        if age > self.max_age_s:
            self.stale += 1
            raise CommandError(f"stale: sent {age:.0f} s ago (ts), older than mqtt.command_max_age_s "
                               f"{self.max_age_s:g}; nothing changed")
        if age < -self.max_age_s:
            self.stale += 1
            raise CommandError(f"ts: {-age:.0f} s in the future (more than mqtt.command_max_age_s "
                               f"{self.max_age_s:g}): the sender's clock is wrong; nothing changed")

    def frame(self) -> tuple[int, int] | None:
        """(height, width) of the frames judged (what_if_replayer.py); None while no inspection is kept."""
        return self._replayer.frame()

    def what_if(self, changes: dict[str, Any], force: bool = False) -> dict[str, Any]:
        """Replay `changes` over the kept inspections (what_if_replayer.py); CommandError when out of limits
        (the same limits `set` applies), busy or off."""
        return self._replayer.what_if(changes, force)

    def _what_if(self, req: Request, answer: Reply) -> None:
        try:
            result = self.what_if(req.changes, req.force)
        except (CommandError, OSError, ValueError) as exc:
            self._refuse(req.id, str(exc), answer)
            return
        self._send(answer, {**self._response(req.id, True, None, []), "what_if": result})

    def _refuse(self, rid: str | None, error: str, answer: Reply) -> None:
        self.refused += 1
        log.warning("command %s refused: %s", rid or "(no id)", clip(error))
        if rid is not None:
            self._send(answer, self._response(rid, False, error, []))

    def _send(self, answer: Reply, payload: dict[str, Any]) -> None:
        try:
            answer(payload)
        except Exception:  # noqa: BLE001 - a failing transport must not stop inspection
            log.exception("command response %s not sent", payload.get("id"))

    def _response(self, rid: str | None, ok: bool, error: str | None, warnings: list[str],
                  history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return response(self.station_id, self.run_id, rid, self.holder.settings, ok, error, warnings, history)

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
                self.recent.done(request.id, None)
                self._refuse(request.id, "expired: the daemon did not reach it before its sender stopped waiting; "
                                         "nothing changed", answer)
                continue
            self._run(request, answer)

    def _run(self, req: Request, answer: Reply) -> None:
        warnings: list[str] = []
        history: list[dict[str, Any]] | None = None
        error: str | None = None
        try:
            if req.action in ("set", "rollback"):
                warnings = self._change(req)
            elif self.holder.settings.profile is None:
                s = self.holder.settings
                warnings = [f"no calibration profile in force: image threshold {s.threshold:.6g} and pixel "
                            f"threshold {s.pixel_threshold:.6g} come from the config or the model"]
        except Exception as exc:  # noqa: BLE001 - a refused command answers, it never stops the daemon
            error = clip(str(exc)) if str(exc).strip() else type(exc).__name__
            if not isinstance(exc, (CommandError, OSError)):
                log.warning("command %s (%s) failed", req.id, req.action, exc_info=True)
        payload = self._response(req.id, error is None, error, warnings, history)
        if error is None:
            self.applied += 1
        else:
            self.refused += 1
            log.warning("command %s (%s) refused: %s", req.id, req.action, error)
        if req.action in CHANGES:  # a refused change changed nothing: its id may come again
            profile = payload["profile"]
            self.recent.done(req.id, None if error is not None else
                             f"carried out: profile r{profile['revision']}" if profile else "carried out")
        self._send(answer, payload)
        if req.action in CHANGES and self._audit is not None:
            try:
                self._audit(audit_record(req, payload))
            except Exception:  # noqa: BLE001 - counted by the log; the change itself stands
                log.exception("audit line for command %s not written", req.id)

    def _history_now(self, req: Request, answer: Reply) -> None:
        """`history` on the caller's thread (paho's, an HTTP handler's): revision files are read through the
        process's cached reader (calibration/history_cache.py), so a technician's request costs the line nothing."""
        from ..calibration.history_cache import READER

        try:
            current, _, root = stored_profile(self.holder.settings)
            history = READER.page(root, current.product, current.station, limit=HISTORY_LIMIT)["history"]
        except (CommandError, OSError, ValueError) as exc:
            self._refuse(req.id, clip(str(exc)) or type(exc).__name__, answer)
            return
        self.applied += 1
        self._send(answer, self._response(req.id, True, None, [], history))

    def _change(self, req: Request) -> list[str]:
        new, warnings = save_revision(req, self.holder, self.inspection, self.frame, self._announce)
        log.info("command %s by %s: %s -> profile r%d (%s)", req.id, req.author, req.action, new.revision, req.reason)
        return warnings
