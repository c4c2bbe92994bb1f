"""A runtime change of the profile in force (`set`, `rollback`): a new revision saved first, swapped in second.

Runs on the inspection thread between two frames (commands.py queues the request). Revisions only grow: a
rollback saves the old numbers as a new revision. When the save fails nothing changes; when it succeeds the
settings that judge are swapped and the retained status announces the new revision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .command_limits import check_changes
from .command_request import CommandError, Request
from .profile_settings import InspectionSettings, settings_from_profile
from .proposal import STALE, edited_profile

if TYPE_CHECKING:
    from ..calibration import Profile
    from ..config import InspectionConfig

NO_PROFILE = ("no calibration profile in force: start the daemon with inspection.profile "
              "(edge-inspector calibrate)")


class SettingsHolder(Protocol):
    """What the processor changes: the run state (settings in force, swapped on the inspection thread)."""

    settings: InspectionSettings

    def use_settings(self, settings: InspectionSettings) -> None: ...


def stored_profile(settings: InspectionSettings) -> tuple[Profile, Path, Path]:
    """(the profile in force, its file, the profiles root); CommandError without a profile, or when the file
    is not where revisions can be saved beside it."""
    if settings.profile is None or settings.profile_path is None:
        raise CommandError(NO_PROFILE)
    from ..calibration.profile import profile_path

    root = settings.profile_path.parent.parent
    expected = profile_path(root, settings.profile.product, settings.profile.station)
    if expected.resolve() != settings.profile_path.resolve():
        raise CommandError(f"profile {settings.profile_path} is not stored as <root>/<product>/<station>.yaml "
                           f"({expected}): revisions cannot be saved beside it")
    return settings.profile, settings.profile_path, root


def save_revision(req: Request, holder: SettingsHolder, inspection: InspectionConfig,
                  frame: Callable[[], tuple[int, int] | None],
                  announce: Callable[[dict[str, Any]], None] | None) -> tuple[Profile, list[str]]:
    """Carry out a `set` or `rollback`: the new revision (saved and in force) and the warnings to answer with.
    `frame` gives the (height, width) the changes are checked against."""
    from ..calibration.profile import next_revision, save_profile

    current, path, root = stored_profile(holder.settings)
    forced: list[str] = []
    if req.action == "set":
        forced = check_changes(req.changes, holder.settings, frame(), req.force)
    new = rollback_target(req, current, root) if req.action == "rollback" \
        else edited_profile(current, req.changes, force=bool(forced))
    new.author, new.reason = str(req.author), str(req.reason)
    new.created_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    predicted = new.revision = next_revision(root, new.product, new.station)
    level = holder.settings.image_level  # the loaded model's: a profile does not change what the model scores
    settings = settings_from_profile(inspection, new, path, image_level=level)  # refuses e.g. a missing mask
    save_profile(new, root)  # persist first ...
    if new.revision != predicted:  # another writer saved a revision in between
        settings = settings_from_profile(inspection, new, path, image_level=level)
    holder.use_settings(settings)  # ... swap second
    if announce is not None and settings.profile_status is not None:
        announce(settings.profile_status)
    warnings = forced + [w for w in new.warnings if STALE.match(w)]
    if new.thresholds["pixel"] > new.thresholds["image"]:
        warnings.append(f"pixel_threshold {new.thresholds['pixel']:.6g} is above image_threshold "
                        f"{new.thresholds['image']:.6g}")
    return new, warnings


def rollback_target(req: Request, current: Profile, root: Path) -> Profile:
    """The revision `req.revision` of the profile in force, refused when it is missing or for another model."""
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
