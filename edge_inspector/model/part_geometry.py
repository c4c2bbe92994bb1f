"""An automatic part mask from good images (`calibrate --auto-mask`, `train --auto-mask`): background and the
part's own edge are not inspected, so neither the belt, the fixture nor the image border can fail a part.

Each good image is split into part and background by Otsu's threshold on its blurred grey image; the part is
the class that touches the image border least, filled (largest outer contour). A pixel is part when at least
`vote` of the images (default 10%) say so: parts that are not fixtured lie in different places, and a part
pixel wrongly ignored hides defects, while a background pixel wrongly inspected only costs a false reject
the calibration shows. The part is then shrunk by `margin` pixels (its edge, where the model sees the
background too, scores high on good parts). The result is an ignore mask as profiles store it: 255 = not
inspected.

Pure cv2/numpy geometry on the model floor, below training and calibration, which both use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


class PartMaskError(ValueError):
    """No part could be told from the background; one line."""


def part_of(image: np.ndarray) -> np.ndarray:
    """Bool mask of the part in one BGR image (Otsu, the class touching the border least, filled)."""
    grey = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (5, 5), 0)
    _, bright = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    border = np.concatenate([bright[0], bright[-1], bright[:, 0], bright[:, -1]])
    part = bright if np.mean(border > 0) < 0.5 else cv2.bitwise_not(bright)
    contours, _ = cv2.findContours(part, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(part)
    if contours:
        cv2.drawContours(filled, [max(contours, key=cv2.contourArea)], -1, 255, thickness=cv2.FILLED)
    return filled > 0


def auto_ignore_mask(images: Sequence[np.ndarray], margin: int = 0, min_fraction: float = 0.01,
                     vote: float = 0.1) -> np.ndarray:
    """The ignore mask (uint8, 255 = not inspected) at the first image's size; PartMaskError when the part
    covers less than `min_fraction` of the frame or the whole of it (nothing to tell apart)."""
    if not images:
        raise PartMaskError("--auto-mask: no good images to find the part in")
    h, w = images[0].shape[:2]
    votes = np.zeros((h, w), np.float32)
    for image in images:
        same = image if image.shape[:2] == (h, w) else cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        votes += part_of(same)
    part: np.ndarray = np.where(votes >= max(1.0, vote * len(images)), np.uint8(255), np.uint8(0)).astype(np.uint8)
    if margin > 0:
        part = cv2.erode(part, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1)))
    fraction = float(np.mean(part > 0))
    if not min_fraction <= fraction < 0.999:
        raise PartMaskError(f"--auto-mask: the part covers {fraction:.1%} of the frame after a {margin} px margin; "
                            "no part/background contrast to use (give --roi or --ignore-mask instead)")
    return cv2.bitwise_not(part)
