"""The inspected area of a frame: a calibration profile's ROI rectangle minus its ignore mask.

Anomalies outside it neither form a region (fixtures, the belt, the image border) nor raise the image score:
the score is the highest value of the map inside it, the score `train --auto-mask`, `evaluate` and
`calibrate` measured the threshold on (model/part_mask.part_scores). The mask is postprocess.inspection_mask,
the one `calibrate` used, built once per frame size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..model.part_mask import load_ignore, part_scores
from ..postprocess import inspection_mask


class InspectionMask:
    """apply(map) -> the map with everything outside the inspected area set to 0."""

    def __init__(self, roi: list[int] | None, ignore_mask: Path | None, *, ignore: np.ndarray | None = None) -> None:
        self.roi = roi
        self.ignore: np.ndarray | None = ignore  # an already loaded mask (a new ROI keeps the old mask)
        if ignore_mask is not None:  # calibrate's checks, word for word (model/part_mask.load_ignore)
            self.ignore = load_ignore(ignore_mask)
        self._cache: dict[tuple[int, int], np.ndarray | None] = {}

    def _keep(self, shape: tuple[int, ...]) -> np.ndarray | None:
        key = (int(shape[0]), int(shape[1]))
        if key not in self._cache:
            if len(self._cache) >= 4:  # a camera has one size; a folder of images a few
                self._cache.clear()
            self._cache[key] = inspection_mask(key, self.roi, self.ignore)
        return self._cache[key]

    def apply(self, anomaly_map: np.ndarray) -> np.ndarray:
        """The map with everything outside the inspected area set to 0, so no region forms there."""
        return self.apply_scored(anomaly_map, 0.0)[0]

    def apply_scored(self, anomaly_map: np.ndarray, score: float) -> tuple[np.ndarray, float]:
        """(the map with everything outside the inspected area set to 0, the image score over the inspected
        area): the max of the map there, 0.0 when nothing is inspected; the model's `score` when the whole
        frame is inspected."""
        keep = self._keep(anomaly_map.shape)
        if keep is None:
            return anomaly_map, score
        return (np.where(keep, anomaly_map, np.float32(0)).astype(np.float32),
                float(part_scores(anomaly_map[None], keep[None])[0]))
