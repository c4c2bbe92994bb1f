"""Defect rendering with exact masks, and `render_sample`, the one call that makes a finished image.

Each defect is an alpha map (0..1) plus a colour layer, restricted to the part's material and painted
on the clean scene before lighting and sensor noise, so it looks like it was photographed with the part.
The mask is the set of pixels where the defect dominates (alpha >= 0.35), uint8 {0,255}.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from .textures import Scene, apply_lighting, pixel_grid, render_scene, sample_lighting, smooth_noise

DEFECT_TYPES: tuple[str, ...] = ("scratch", "spot", "crack", "contamination", "missing")
MIN_AREA_FRACTION = 0.002
MAX_AREA_FRACTION = 0.04
_MASK_ALPHA = 0.35


@dataclass(frozen=True)
class Sample:
    """A finished image: BGR uint8 HxWx3, defect mask uint8 {0,255} HxW (all 0 when good)."""

    category: str
    image: np.ndarray
    mask: np.ndarray
    defect_type: str | None


def render_sample(category: str, rng: np.random.Generator, size: int = 256,
                  defect_type: str | None = None) -> Sample:
    """Render one part of `category`, with `defect_type` (one of DEFECT_TYPES) or defect-free.

    The same generator state with and without a defect gives the same part, pose, lighting and noise,
    so the two images differ only where the defect is.
    """
    scene_rng, defect_rng, photo_rng = rng.spawn(3)
    scene = render_scene(category, scene_rng, size)
    light = sample_lighting(photo_rng)
    if defect_type is None:
        image, mask = scene.image, np.zeros((size, size), np.uint8)
    else:
        image, mask = apply_defect(scene, defect_type, defect_rng)
    return Sample(category, apply_lighting(image, light, photo_rng), mask, defect_type)


def apply_defect(scene: Scene, defect_type: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Paint one defect on the part of `scene`; return (float32 image, uint8 {0,255} mask).

    The mask is never empty and covers 0.2%-4% of the image where the part allows it.
    """
    if defect_type not in _RENDERERS:
        raise ValueError(f"unknown defect type {defect_type!r}; expected one of {', '.join(DEFECT_TYPES)}")
    size = scene.image.shape[0]
    part = scene.part_mask
    inner = part.astype(np.uint8)
    margin = max(2, size // 16)  # keep defects off the frame border as well as the part's edge
    inner[:margin], inner[-margin:], inner[:, :margin], inner[:, -margin:] = 0, 0, 0, 0
    allowed = np.asarray(cv2.erode(inner, np.ones((5, 5), np.uint8), iterations=max(1, size // 128)), np.uint8)
    candidates = np.flatnonzero(allowed)
    if candidates.size == 0:
        candidates = np.flatnonzero(part)
    near_edge = np.flatnonzero(allowed & (cv2.erode(allowed, np.ones((3, 3), np.uint8), iterations=size // 24) == 0))
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(16):
        pool = near_edge if defect_type == "missing" and near_edge.size and rng.random() < 0.6 else candidates
        idx = int(pool[rng.integers(pool.size)])
        centre = (float(idx % size), float(idx // size))
        alpha, layer = _RENDERERS[defect_type](scene, rng, centre, size)
        alpha = alpha * part
        frac = float((alpha >= _MASK_ALPHA).mean())
        miss = max(MIN_AREA_FRACTION - frac, frac - MAX_AREA_FRACTION, 0.0) if frac > 0 else 1.0
        if best is None or miss < best[0]:
            best = (miss, alpha, layer)
        if miss == 0.0:
            break
    assert best is not None
    _, alpha, layer = best
    if not (alpha >= _MASK_ALPHA).any():  # guarantee a visible, non-empty defect
        idx = int(candidates[rng.integers(candidates.size)])
        alpha = np.zeros((size, size), np.float32)
        cv2.circle(alpha, (idx % size, idx // size), max(2, size // 40), 1.0, -1)
        layer = scene.image * 0.35
    a = alpha[..., None]
    image = scene.image * (1 - a) + layer * a
    return image.astype(np.float32), np.where(alpha >= _MASK_ALPHA, 255, 0).astype(np.uint8)


def _line_alpha(size: int, pts: list[np.ndarray], thickness: int) -> np.ndarray:
    canvas = np.zeros((size, size), np.uint8)
    for p in pts:
        cv2.polylines(canvas, [np.round(p * 16).astype(np.int32)], False, 255, thickness, cv2.LINE_AA, shift=4)
    return canvas.astype(np.float32) / 255.0


def _blob(rng: np.random.Generator, size: int, centre: tuple[float, float], radius: float, *,
          roughness: float, soft_px: float) -> np.ndarray:
    """Irregular elliptic blob as alpha: random axes, orientation and a noisy boundary."""
    yy, xx = pixel_grid(size)
    a, b = radius * rng.uniform(0.8, 1.25), radius * rng.uniform(0.55, 1.0)
    t = rng.uniform(0, math.pi)
    dx, dy = xx - centre[0], yy - centre[1]
    u, v = (dx * math.cos(t) + dy * math.sin(t)) / a, (-dx * math.sin(t) + dy * math.cos(t)) / b
    field = 1.0 - np.sqrt(u * u + v * v) + roughness * smooth_noise(rng, size, max(3.0, radius / 1.5))
    return np.clip(field * (radius / max(soft_px, 0.5)) + 0.5, 0, 1).astype(np.float32)


def _scratch(scene: Scene, rng: np.random.Generator, centre: tuple[float, float], size: int) -> tuple[np.ndarray, ...]:
    length = rng.uniform(0.18, 0.38) * size
    t = rng.uniform(0, math.pi)
    d, n = np.array([math.cos(t), math.sin(t)]), np.array([-math.sin(t), math.cos(t)])
    c = np.array(centre)
    p0, p2, p1 = c - d * length / 2, c + d * length / 2, c + n * length * rng.uniform(-0.25, 0.25)
    s = np.linspace(0, 1, 48)[:, None]
    curve = (1 - s) ** 2 * p0 + 2 * (1 - s) * s * p1 + s**2 * p2
    alpha = _line_alpha(size, [curve], max(1, round(rng.uniform(1.6, 3.6) * size / 256)))
    # a fresh cut is bright on dark surfaces and a dark groove on bright ones, so it always contrasts
    lum = scene.image.mean(axis=2, keepdims=True)
    threshold = 150.0 if rng.random() < 0.4 else 90.0
    dark, bright = scene.image * rng.uniform(0.25, 0.45), np.minimum(scene.image * 0.35 + 165, 255)
    return alpha, np.where(lum > threshold, dark, bright)


def _crack(scene: Scene, rng: np.random.Generator, centre: tuple[float, float], size: int) -> tuple[np.ndarray, ...]:
    step = max(1.5, size * 0.018)

    def walk(start: np.ndarray, heading: float, n: int) -> np.ndarray:
        pts = [start]
        for _ in range(n):
            heading += rng.normal(0, 0.55)
            pts.append(pts[-1] + step * rng.uniform(0.6, 1.4) * np.array([math.cos(heading), math.sin(heading)]))
        return np.array(pts)

    h = rng.uniform(0, 2 * math.pi)
    main = np.concatenate([walk(np.array(centre), h, 8)[::-1], walk(np.array(centre), h + math.pi, 8)[1:]])
    paths = [main]
    for _ in range(int(rng.integers(1, 4))):
        k = int(rng.integers(2, len(main) - 2))
        paths.append(walk(main[k], h + rng.choice([-1.0, 1.0]) * rng.uniform(0.6, 1.3), int(rng.integers(3, 7))))
    alpha = _line_alpha(size, paths, max(1, round(rng.uniform(1.2, 2.6) * size / 256)))
    return alpha, scene.image * rng.uniform(0.1, 0.25)


def _spot(scene: Scene, rng: np.random.Generator, centre: tuple[float, float], size: int) -> tuple[np.ndarray, ...]:
    alpha = _blob(rng, size, centre, rng.uniform(0.025, 0.06) * size, roughness=0.25, soft_px=1.5)
    local = scene.image[alpha > 0.5].mean(axis=0) if (alpha > 0.5).any() else scene.image.mean(axis=(0, 1))
    far = [c for c in _STAINS if np.abs(c - local).sum() > 120] or [max(_STAINS, key=lambda c: np.abs(c - local).sum())]
    stain = far[int(rng.integers(len(far)))]
    return alpha, 0.35 * scene.image + 0.65 * stain  # a stain keeps some of the texture under it


_STAINS = [np.asarray(c, np.float32)
           for c in ((40, 85, 150), (30, 32, 36), (160, 70, 40), (70, 120, 85), (200, 225, 235))]


def _contamination(scene: Scene, rng: np.random.Generator, centre: tuple[float, float],
                   size: int) -> tuple[np.ndarray, ...]:
    alpha = _blob(rng, size, centre, rng.uniform(0.035, 0.075) * size, roughness=0.45, soft_px=max(1.5, size / 90))
    local = scene.image.reshape(-1, 3)[int(centre[1]) * size + int(centre[0])]
    base = np.asarray(rng.uniform(40, 220, size=3), np.float32)
    for _ in range(8):  # foreign matter: a colour unlike the part's, so the patch is visible
        if np.abs(base - local).sum() > 150:
            break
        base = np.asarray(rng.uniform(40, 220, size=3), np.float32)
    grain = rng.standard_normal((size, size), np.float32)
    k = 1 + 2 * int(rng.integers(1, 4))
    fibres = cv2.blur(grain, (k, 1) if rng.random() < 0.5 else (1, k)) * math.sqrt(k)
    return alpha, base + (28 * fibres + 10 * smooth_noise(rng, size, 6.0))[..., None]


def _missing(scene: Scene, rng: np.random.Generator, centre: tuple[float, float], size: int) -> tuple[np.ndarray, ...]:
    radius = rng.uniform(0.04, 0.085) * size
    alpha = _blob(rng, size, centre, radius, roughness=0.2, soft_px=0.6)
    depth = np.clip(1.0 - 0.45 * _blob(rng, size, centre, radius * 0.8, roughness=0.1, soft_px=radius * 0.3), 0.55, 1)
    return alpha, scene.background * depth[..., None]  # the hole shows what is behind, shadowed inside


_Renderer = Callable[[Scene, np.random.Generator, tuple[float, float], int], tuple[np.ndarray, ...]]
_RENDERERS: dict[str, _Renderer] = {"scratch": _scratch, "spot": _spot, "crack": _crack,
                                    "contamination": _contamination, "missing": _missing}
