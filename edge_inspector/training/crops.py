"""Where training batches come from: fixed images (whole frames or grid tiles), or random tile-sized crops
of the good images at the working resolution (`train --tiles`), so a tiled model sees every position of
the part at the scale tiled inference scores it, not only the grid's offsets."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from ..model import tiling
from ..model.metadata import ModelMetadata
from ..model.part_mask import part_at
from ..model.preprocess import crop_roi, normalise
from .data import read_bgr


class FixedBatches:
    """Batches of a fixed set of normalised images [N,3,h,w] and their part weights [N,1,h,w] (or None)."""

    def __init__(self, x: torch.Tensor, part: torch.Tensor | None) -> None:
        self.x, self.part = x, part

    def __len__(self) -> int:
        return len(self.x)

    def take(self, idx: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.x[idx], None if self.part is None else self.part[idx]


class RandomCrops:
    """Random tile x tile crops of whole images at the working resolution, a new position every time.

    An epoch is `epoch_size` crops (the grid tiles' count, so epochs stay comparable); the image is drawn
    in proportion to its area, so a large frame is not under-sampled against a small one.
    """

    def __init__(self, files: list[Path], tile: int, working_size: int, meta: ModelMetadata, epoch_size: int,
                 roi: tuple[int, int, int, int] | None = None, ignore: np.ndarray | None = None) -> None:
        self.tile, self.meta, self.epoch_size = tile, meta, epoch_size
        self.images: list[np.ndarray] = []
        self.parts: list[np.ndarray] | None = None if ignore is None else []
        for path in files:
            frame = read_bgr(path)
            work, _ = tiling.to_working(crop_roi(frame, roi), working_size, tile)
            self.images.append(cv2.cvtColor(work, cv2.COLOR_BGR2RGB))
            if self.parts is not None and ignore is not None:
                part = crop_roi(part_at(ignore, frame.shape[:2]).astype(np.uint8), roi)
                self.parts.append(tiling.to_working(part, working_size, tile, cv2.INTER_NEAREST)[0])
        area = np.array([im.shape[0] * im.shape[1] for im in self.images], np.float64)
        self.weights = torch.from_numpy(area / area.sum())

    def __len__(self) -> int:
        return self.epoch_size

    def take(self, idx: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """len(idx) fresh crops (the indices only set the count): normalised [B,3,t,t], parts [B,1,t,t]."""
        n, t = len(idx), self.tile
        which = torch.multinomial(self.weights, n, replacement=True, generator=gen).tolist()
        frac = torch.rand(n, 2, generator=gen).tolist()
        crops, parts = [], []
        for i, (fy, fx) in zip(which, frac):
            image = self.images[i]
            y, x = int(fy * (image.shape[0] - t + 1)), int(fx * (image.shape[1] - t + 1))
            crops.append(image[y:y + t, x:x + t])
            if self.parts is not None:
                parts.append(self.parts[i][y:y + t, x:x + t])
        xb = torch.from_numpy(normalise(np.stack(crops), self.meta))
        pb = None if self.parts is None else torch.from_numpy(np.stack(parts)[:, None].astype(np.float32))
        return xb, pb
