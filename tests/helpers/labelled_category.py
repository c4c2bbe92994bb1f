"""A tiny labelled MVTec-layout category for the supervised kinds' tests: grey mottled parts, two defect types
(a dark spot, a bright spot) drawn at a random place with their masks, and a development split file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge_inspector.evaluation.splits import draw_dev_split

DEFECT_TYPES = ("dark", "bright")


def part(rng: np.random.Generator, size: int) -> np.ndarray:
    """A good part: smooth grey mottling plus sensor noise, BGR uint8."""
    low = rng.normal(0, 1, (size // 8, size // 8)).astype(np.float32)
    smooth = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
    grey = 128 + 12 * smooth + rng.normal(0, 4, (size, size))
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def defect(image: np.ndarray, rng: np.random.Generator, kind: str,
           centre: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The part with a spot of `kind` (radius ~ size/10) at `centre` (random when None); (image, mask {0,255})."""
    size = image.shape[0]
    radius = max(3, size // 10)
    if centre is None:
        centre = (int(rng.integers(radius + 2, size - radius - 2)), int(rng.integers(radius + 2, size - radius - 2)))
    mask = np.zeros((size, size), np.uint8)
    cv2.circle(mask, centre, radius, 255, -1)
    out = image.copy()
    out[mask > 0] = 30 if kind == "dark" else 235
    return out, mask


def write_category(root: Path, *, size: int = 64, n_train: int = 48, n_test_good: int = 12, n_defect: int = 12,
                   seed: int = 0) -> tuple[Path, Path]:
    """(category dir, split file): train/good, test/good, test/<type>, ground_truth/<type>, and a development
    split of half of every test folder (scripts/make_dev_split.py's draw)."""
    rng = np.random.default_rng(seed)
    cat = root / "spots"
    for sub in ["train/good", "test/good"] + [f"{d}/{t}" for t in DEFECT_TYPES for d in ("test", "ground_truth")]:
        (cat / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n_train):
        cv2.imwrite(str(cat / "train" / "good" / f"{i:03d}.png"), part(rng, size))
    for i in range(n_test_good):
        cv2.imwrite(str(cat / "test" / "good" / f"{i:03d}.png"), part(rng, size))
    for kind in DEFECT_TYPES:
        for i in range(n_defect):
            image, mask = defect(part(rng, size), rng, kind)
            cv2.imwrite(str(cat / "test" / kind / f"{i:03d}.png"), image)
            cv2.imwrite(str(cat / "ground_truth" / kind / f"{i:03d}_mask.png"), mask)
    paths = sorted(str(p.relative_to(cat)) for p in (cat / "test").rglob("*.png"))
    split = root / "spots.dev.txt"
    split.write_text("# development split of spots\n" + "\n".join(draw_dev_split(paths, 0.5, seed)) + "\n")
    return cat, split
