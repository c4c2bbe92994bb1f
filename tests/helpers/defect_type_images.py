"""Synthetic defect types a small CNN learns in seconds: a horizontal bar, a vertical bar and a dot, each at a
random place on a noisy grey part; and the labelled dataset layout (test/<type>/*.png) the dashboard writes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

TYPES = ("dot", "horizontal", "vertical")


def type_image(kind: str, rng: np.random.Generator, size: int = 48) -> np.ndarray:
    """A BGR uint8 image of `size`x`size` with one defect of `kind` (one of TYPES)."""
    image = np.clip(rng.normal(128, 12, (size, size, 1)), 0, 255).astype(np.uint8).repeat(3, axis=2)
    cx, cy = (int(v) for v in rng.integers(size // 4, 3 * size // 4, 2))
    long, thick = size // 2, max(2, size // 12)
    if kind == "horizontal":
        cv2.rectangle(image, (cx - long // 2, cy - thick // 2), (cx + long // 2, cy + thick // 2), (20, 20, 20), -1)
    elif kind == "vertical":
        cv2.rectangle(image, (cx - thick // 2, cy - long // 2), (cx + thick // 2, cy + long // 2), (20, 20, 20), -1)
    elif kind == "dot":
        cv2.circle(image, (cx, cy), max(3, size // 8), (20, 20, 20), -1)
    else:
        raise ValueError(f"unknown synthetic defect type {kind!r}")
    return image


def write_labelled_dir(root: Path, per_type: int = 12, seed: int = 0, size: int = 48,
                       types: tuple[str, ...] = TYPES, good: int = 2) -> Path:
    """root/test/<type>/NNN.png for every type (and a few test/good images, which are not a type)."""
    rng = np.random.default_rng(seed)
    for kind in types:
        folder = root / "test" / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_type):
            cv2.imwrite(str(folder / f"{i:03d}.png"), type_image(kind, rng, size))
    (root / "test" / "good").mkdir(parents=True, exist_ok=True)
    for i in range(good):
        cv2.imwrite(str(root / "test" / "good" / f"{i:03d}.png"),
                    np.full((size, size, 3), 128, np.uint8))
    return root
