"""Sane limits on live changes: what a `set` or a `what-if` may propose given the profile and the frames in force.

A technician who types 45 for 0.45 must not pass every defect. The profile records the thresholds its
calibration chose, not the scores behind them (those are in the calibration report, which may be gone), so
the calibrated range is derived from those thresholds: [min(0, image, pixel), SCALE x max(image, pixel)] of
the calibrated revision. A revision saved by a command carries its calibrated reference in its policy params
(proposal.edited_profile), so repeated changes cannot walk the range upwards. Thresholds and min_peak (both
on the map's scale; a huge min_peak hides every region) must lie in it unless the request says `force`.
The ROI must lie inside the frame and min_area must not exceed it (the last frame's size when one is kept;
before that only the absolute bounds of command_request apply); `force` never lifts those.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..json_numbers import finite_float
from .command_request import CommandError

if TYPE_CHECKING:
    from ..calibration import Profile
    from .profile_settings import InspectionSettings

SCALE = 4.0  # the calibrated range's top: SCALE x the larger calibrated threshold
_SCORE_KEYS = ("image_threshold", "pixel_threshold", "min_peak")


def calibrated_reference(profile: Profile) -> dict[str, Any]:
    """{revision, image, pixel}: the thresholds of the calibration `profile` descends from (itself unless a
    command saved it; a command revision from before references existed counts as its own calibration)."""
    params = profile.policy.get("params") if isinstance(profile.policy, dict) else None
    ref = params.get("calibrated") if isinstance(params, dict) and params.get("source") == "command" else None
    if isinstance(ref, dict) and all(_finite(ref.get(k)) for k in ("image", "pixel")) \
            and isinstance(ref.get("revision"), int):
        return {"revision": ref["revision"], "image": float(ref["image"]), "pixel": float(ref["pixel"])}
    return {"revision": profile.revision, "image": float(profile.thresholds["image"]),
            "pixel": float(profile.thresholds["pixel"])}


def score_range(settings: InspectionSettings) -> tuple[float, float, str]:
    """(low, high, where it comes from) for thresholds and min_peak under `settings`."""
    if settings.profile is not None:
        ref = calibrated_reference(settings.profile)
        image, pixel = ref["image"], ref["pixel"]
        basis = f"profile revision {ref['revision']}'s calibrated thresholds {image:.6g}/{pixel:.6g}"
    else:
        image, pixel = settings.threshold, settings.pixel_threshold
        basis = f"the thresholds in force {image:.6g}/{pixel:.6g} (no profile)"
    return min(0.0, image, pixel), SCALE * max(0.0, image, pixel), basis


def check_changes(changes: dict[str, Any], settings: InspectionSettings, frame: tuple[int, int] | None,
                  force: bool) -> list[str]:
    """Raise CommandError for the first proposed value outside its limits; returns warnings for forced ones.

    `changes` passed command_request.parse_request; `frame` is (height, width) of the last frame, if known."""
    low, high, basis = score_range(settings)
    forced: list[str] = []
    for key in _SCORE_KEYS:
        if key in changes and not low <= changes[key] <= high:
            if not force:
                raise CommandError(f"set.{key}: {changes[key]:.6g} is outside the calibrated range "
                                   f"[{low:.6g}, {high:.6g}] ({SCALE:g} x {basis}); check the number, or send "
                                   f"\"force\": true to apply it anyway (audited)")
            forced.append(f"set.{key} {changes[key]:.6g} is outside the calibrated range [{low:.6g}, {high:.6g}]: "
                          f"forced")
    if frame is not None:
        height, width = frame
        roi = changes.get("roi")
        if roi is not None and (roi[0] + roi[2] > width or roi[1] + roi[3] > height):
            raise CommandError(f"set.roi: {roi} does not lie inside the {width}x{height} frame "
                               f"(x + width <= {width}, y + height <= {height})")
        if changes.get("min_area", 0) > height * width:
            raise CommandError(f"set.min_area: {changes['min_area']} is more than the frame's {width}x{height} = "
                               f"{height * width} pixels: no region could ever be that large")
    return forced


def _finite(v: Any) -> bool:
    return finite_float(v) is not None
