"""The inspected area of a frame: a calibration profile's ROI rectangle minus its ignore mask.

Anomalies outside it form no region (fixtures, the belt, the image border); with `require_region` such a
part passes. The mask is postprocess.inspection_mask, the one `calibrate` used, built once per frame size.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..postprocess import inspection_mask


class InspectionMask:
    """apply(map) -> the map with everything outside the inspected area set to 0."""

    def __init__(self, roi: list[int] | None, ignore_mask: Path | None, *, ignore: np.ndarray | None = None) -> None:
        self.roi = roi
        self.ignore: np.ndarray | None = ignore  # an already loaded mask (a new ROI keeps the old mask)
        if ignore_mask is not None:
            self.ignore = cv2.imread(str(ignore_mask), cv2.IMREAD_GRAYSCALE)
            if self.ignore is None:
                raise FileNotFoundError(f"ignore mask {ignore_mask}: missing or not an image")
        self._cache: dict[tuple[int, int], np.ndarray | None] = {}

    def apply(self, anomaly_map: np.ndarray) -> np.ndarray:
        """The map with everything outside the inspected area set to 0, so no region forms there. The image
        score stays the model's, exactly as `calibrate` scored the profile's images."""
        key = (int(anomaly_map.shape[0]), int(anomaly_map.shape[1]))
        if key not in self._cache:
            if len(self._cache) >= 4:  # a camera has one size; a folder of images a few
                self._cache.clear()
            self._cache[key] = inspection_mask(key, self.roi, self.ignore)
        keep = self._cache[key]
        return anomaly_map if keep is None else np.where(keep, anomaly_map, np.float32(0)).astype(np.float32)
