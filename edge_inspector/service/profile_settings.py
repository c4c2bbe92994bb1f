"""What the daemon judges with: thresholds and region filters from the config and the model, or from a
calibration profile (`inspection.profile`), which is refused unless it was calibrated for the loaded model."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import Config, InspectionConfig
from ..model.kinds import model_kind
from ..model.metadata import ModelMetadata
from ..model.part_mask import part_mask_path
from ..postprocess import postprocess
from ..types import Box, Verdict
from .inspection_mask import InspectionMask

if TYPE_CHECKING:
    from ..calibration import Profile
    from ..model.tiling import TileSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InspectionSettings:
    """The resolved numbers one frame is judged with, and what the status topic announces about them."""

    threshold: float
    pixel_threshold: float
    inspection: InspectionConfig
    mask: InspectionMask | None = None
    profile_status: dict[str, Any] | None = None
    profile: Profile | None = None  # the profile in force (its file: profile_path), None without one
    profile_path: Path | None = None
    # The model kind when it scores whole images only (no map to locate defects: model/kinds.py), else None.
    image_level: str | None = None

    def judge(self, anomaly_map: np.ndarray, score: float) -> tuple[Verdict, tuple[Box, ...], str]:
        """The verdict, boxes and reason for one raw (unmasked) map and the model's score under these settings:
        the one judging step the daemon, an uploaded image and a what-if replay share."""
        return self.judge_scored(anomaly_map, score)[:3]  # type: ignore[return-value]

    def judge_scored(self, anomaly_map: np.ndarray, score: float) -> tuple[Verdict, tuple[Box, ...], str, float]:
        """judge() and the image score it compared with the threshold: with a part mask, ROI or ignore mask,
        the max of the map over the inspected pixels (as calibrated), else the model's `score`."""
        # An image-level model's score is the whole image's: no map to take the inspected area's max from.
        judged, inspected = anomaly_map, score
        if self.mask is not None and self.image_level is None:
            judged, inspected = self.mask.apply_scored(anomaly_map, score)
        verdict, boxes, reason = postprocess(judged, inspected, threshold=self.threshold,
                                             pixel_threshold=self.pixel_threshold, cfg=self.inspection,
                                             image_level=self.image_level)
        return verdict, boxes, reason, inspected


def resolve_settings(cfg: Config, meta: ModelMetadata, model_dir: Path) -> InspectionSettings:
    """Config numbers or the model's calibration ("auto"); a profile replaces both. Errors are one line."""
    insp = cfg.inspection
    threshold = meta.image_threshold if insp.threshold == "auto" else insp.threshold
    pixel = meta.pixel_threshold if insp.pixel_threshold == "auto" else insp.pixel_threshold
    part = part_mask_path(model_dir, meta)  # a model trained on its part judges the part only, as calibrated
    image_level = None if model_kind(meta.kind).has_map else meta.kind
    settings = InspectionSettings(float(threshold), float(pixel), insp,
                                  None if part is None else InspectionMask(None, part), image_level=image_level)
    if insp.profile is not None:
        settings = _from_profile(insp, insp.profile, model_dir, cfg.model.tiling.spec(), image_level)
    for name, value in (("threshold", settings.threshold), ("pixel threshold", settings.pixel_threshold)):
        if not math.isfinite(value):  # metadata and profiles refuse these; a backend object could still carry one
            raise ValueError(f"model {model_dir}: {name} is {value}, expected a finite number")
    return settings


def _from_profile(insp: InspectionConfig, path: Path, model_dir: Path, cfg_tiling: TileSpec | None,
                  image_level: str | None) -> InspectionSettings:
    from ..calibration import load_profile

    profile = load_profile(path)
    profile.check_model(model_dir, source=f"profile {path}", tiling=cfg_tiling)
    if insp.threshold != "auto" or insp.pixel_threshold != "auto":
        log.warning("inspection.profile %s replaces inspection.threshold/pixel_threshold from the config", path)
    return settings_from_profile(insp, profile, path, image_level=image_level)


def settings_from_profile(insp: InspectionConfig, profile: Profile, path: Path, *,
                          quiet: bool = False, image_level: str | None = None) -> InspectionSettings:
    """The settings a profile (stored at `path`) gives, on top of the config's inspection section
    (`image_level`: the loaded model's kind when it has no map, as InspectionSettings.image_level).

    Used at start (after the model check) and by runtime commands (service/commands.py)."""
    ignore = None if profile.ignore_mask is None else (path.parent / profile.ignore_mask)
    mask = InspectionMask(profile.roi, ignore) if profile.roi is not None or ignore is not None else None
    inspection = replace(insp, min_defect_area=int(profile.regions["min_area"]),
                         min_region_peak=float(profile.regions["min_peak"]))
    image, pixel = float(profile.thresholds["image"]), float(profile.thresholds["pixel"])
    status = {"product": profile.product, "station": profile.station, "revision": profile.revision,
              "fingerprint": profile.model["fingerprint"], "image_threshold": image, "pixel_threshold": pixel}
    say = log.debug if quiet else log.info  # a what-if builds settings on every slider move
    say("profile %s/%s r%d (%s, %s by %s): threshold %.4g, pixel %.4g, min area %d, min peak %.4g%s",
             profile.product, profile.station, profile.revision, profile.policy.get("name"), profile.created_at,
             profile.author, image, pixel, inspection.min_defect_area, inspection.min_region_peak,
             ", ROI/ignore mask" if mask else "")
    return InspectionSettings(image, pixel, inspection, mask, status, profile, path, image_level)
