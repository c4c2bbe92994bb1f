"""A proposed change to the settings in force: the profile a `set` command would save and the settings it
would judge with. `set` applies exactly what a what-if replays, because both are built here (and both pass
command_limits.check_changes first)."""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .command_limits import calibrated_reference
from .inspection_mask import InspectionMask
from .profile_settings import InspectionSettings, settings_from_profile

if TYPE_CHECKING:
    from ..calibration import Profile
    from ..config import InspectionConfig

STALE = re.compile(r"^expected rates are from revision \d+'s calibration, not re-measured$")
# set key -> where it lives in a Profile
_PROFILE_KEYS: dict[str, tuple[str, str, type]] = {
    "image_threshold": ("thresholds", "image", float), "pixel_threshold": ("thresholds", "pixel", float),
    "min_area": ("regions", "min_area", int), "min_peak": ("regions", "min_peak", float)}


def edited_profile(current: Profile, changes: dict[str, Any], force: bool = False) -> Profile:
    """A copy of `current` with validated `changes` (command_request.SET_KEYS) applied, marked as chosen by hand.

    Its policy params keep the calibration it descends from (`calibrated`: revision and thresholds), which
    bounds later changes (command_limits), and `forced: true` when the request forced values past it."""
    reference = calibrated_reference(current)
    new = copy.deepcopy(current)
    for key, (section, name, kind) in _PROFILE_KEYS.items():
        if key in changes:
            getattr(new, section)[name] = kind(changes[key])
    if "roi" in changes:
        new.roi = None if changes["roi"] is None else [int(x) for x in changes["roi"]]
    # `fixed`: numbers a person chose (validate.py knows no other name for them)
    params: dict[str, Any] = {"source": "command", "changed": sorted(changes), "calibrated": reference}
    if force:
        params["forced"] = True
    new.policy = {"name": "fixed", "params": params}
    if not any(STALE.match(w) for w in new.warnings):  # the rates stay those of the last calibration
        new.warnings.append(f"expected rates are from revision {current.revision}'s calibration, not re-measured")
    return new


def proposed_settings(settings: InspectionSettings, inspection: InspectionConfig,
                      changes: dict[str, Any], *, quiet: bool = False) -> InspectionSettings:
    """The settings `changes` would give on top of `settings` (the config's `inspection` underneath).

    With a profile in force this is what saving the edited profile gives; without one the numbers are
    replaced in place (a what-if only: changes without a profile are refused by `set`)."""
    if settings.profile is not None and settings.profile_path is not None:
        return settings_from_profile(inspection, edited_profile(settings.profile, changes), settings.profile_path,
                                     quiet=quiet, image_level=settings.image_level)
    insp = settings.inspection
    if "min_area" in changes:
        insp = replace(insp, min_defect_area=int(changes["min_area"]))
    if "min_peak" in changes:
        insp = replace(insp, min_region_peak=float(changes["min_peak"]))
    mask = settings.mask
    if "roi" in changes:  # a new rectangle; the model's part mask, if any, stays
        ignore = None if settings.mask is None else settings.mask.ignore
        roi = None if changes["roi"] is None else [int(x) for x in changes["roi"]]
        mask = None if roi is None and ignore is None else InspectionMask(roi, None, ignore=ignore)
    return InspectionSettings(float(changes.get("image_threshold", settings.threshold)),
                              float(changes.get("pixel_threshold", settings.pixel_threshold)), insp, mask,
                              image_level=settings.image_level)
