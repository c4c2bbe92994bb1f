"""What a command is answered with and what its audit line holds (docs/mqtt-contract.md, "Commands").

Every answer carries the profile in force after the command (None without a profile), so a caller never
has to ask again what the numbers are; an error is one capped line (command_request.clip).
"""

from __future__ import annotations

from typing import Any

from ..publish.contract import command_response_payload
from .command_request import Request, clip
from .profile_settings import InspectionSettings


def profile_view(settings: InspectionSettings) -> dict[str, Any] | None:
    """The `profile` object of a response: the numbers in force, or None without a profile."""
    p = settings.profile
    if p is None:
        return None
    return {"product": p.product, "station": p.station, "revision": p.revision,
            "image_threshold": float(p.thresholds["image"]), "pixel_threshold": float(p.thresholds["pixel"]),
            "min_area": int(p.regions["min_area"]), "min_peak": float(p.regions["min_peak"]),
            "roi": None if p.roi is None else list(p.roi)}


def response(station_id: str, run_id: str, rid: str | None, settings: InspectionSettings, ok: bool,
             error: str | None, warnings: list[str], history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The answer to request `rid` with `settings` in force (its error clipped to one line)."""
    return command_response_payload(station_id, run_id, rid, ok=ok, error=None if error is None else clip(error),
                                    profile=profile_view(settings), warnings=warnings, history=history)


def audit_record(req: Request, payload: dict[str, Any]) -> dict[str, Any]:
    """The `"kind": "command"` audit line of a change: its answer (without a history) and the request."""
    return {"kind": "command", **{k: v for k, v in payload.items() if k != "history"},
            "request": {"action": req.action, "author": req.author, "reason": req.reason,
                        "set": req.changes or None, "revision": req.revision, "force": req.force, "ts": req.ts}}
