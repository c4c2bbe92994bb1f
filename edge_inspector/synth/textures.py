"""Procedural part appearance: one fixed product design per category, varied per image.

A render is split in two so that defects can be painted between the stages: `render_scene` draws the
clean part (texture, shape, pose) as float32, and `apply_lighting` adds gain, gradient, colour cast,
blur and sensor noise and converts to BGR uint8. Everything is vectorised numpy/cv2.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

CATEGORIES: tuple[str, ...] = ("brushed_metal", "woven_fabric", "printed_label")


@dataclass(frozen=True)
class Scene:
    """Clean render of one part before lighting and noise.

    image: HxWx3 float32 BGR in 0..255. part_mask: HxW bool, True where the part's material is.
    background: HxWx3 float32, what shows through where material is missing (holes, tears).
    """

    category: str
    image: np.ndarray
    part_mask: np.ndarray
    background: np.ndarray


@dataclass(frozen=True)
class Lighting:
    """Photometric variation of one shot: gain, linear gradient, per-channel cast, blur, noise."""

    gain: float
    gradient: float
    gradient_angle: float
    cast: tuple[float, float, float]
    blur_sigma: float
    noise_sigma: float


def check_category(category: str) -> str:
    """Return `category` if known, else raise ValueError listing the known ones."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; expected one of {', '.join(CATEGORIES)}")
    return category


def sample_lighting(rng: np.random.Generator) -> Lighting:
    """Draw a lighting/sensor condition typical of a stable line camera."""
    c = rng.uniform(0.96, 1.04, size=3)
    return Lighting(gain=float(rng.uniform(0.88, 1.12)), gradient=float(rng.uniform(0.0, 0.12)),
                    gradient_angle=float(rng.uniform(0, 2 * math.pi)),
                    cast=(float(c[0]), float(c[1]), float(c[2])),
                    blur_sigma=float(rng.uniform(0.3, 0.8)), noise_sigma=float(rng.uniform(1.5, 3.5)))


def apply_lighting(image: np.ndarray, light: Lighting, rng: np.random.Generator) -> np.ndarray:
    """Apply `light` and Gaussian sensor noise to a float32 scene image; return BGR uint8."""
    size = image.shape[0]
    yy, xx = pixel_grid(size)
    ramp = (xx * math.cos(light.gradient_angle) + yy * math.sin(light.gradient_angle)) / size
    factor = light.gain * (1.0 + 2.0 * light.gradient * ramp)
    out = image * factor[..., None] * np.asarray(light.cast, np.float32)
    out = cv2.GaussianBlur(out, (0, 0), light.blur_sigma)
    out += rng.standard_normal(out.shape, dtype=np.float32) * light.noise_sigma
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def render_scene(category: str, rng: np.random.Generator, size: int = 256) -> Scene:
    """Render one defect-free part of `category` with random pose and texture (no lighting yet)."""
    check_category(category)
    if size < 32:
        raise ValueError(f"size: expected >= 32 px, got {size}")
    s = size / 256.0
    pose = (float(rng.uniform(-4, 4)), float(rng.uniform(-4, 4) * s), float(rng.uniform(-4, 4) * s),
            float(rng.uniform(0.97, 1.03)))
    if category == "woven_fabric":
        return _fabric(rng, size, pose)
    if category == "brushed_metal":
        bg = _mottled(rng, size, (48.0, 46.0, 44.0), 7.0)
        part, shape = _metal_part(rng, size)
    else:
        bg = _cardboard(rng, size)
        part, shape = _label_part(rng, size)
    m = cv2.getRotationMatrix2D((size / 2, size / 2), pose[0], pose[3])
    m[:, 2] += np.array([pose[1], pose[2]])
    part = cv2.warpAffine(part, m, (size, size), flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(shape, m, (size, size), flags=cv2.INTER_LINEAR)
    image = bg * (1.0 - alpha[..., None]) + part * alpha[..., None]
    return Scene(category, image.astype(np.float32), alpha > 0.5, bg)


@functools.lru_cache(maxsize=8)
def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only float32 (yy, xx) pixel coordinate grids of a size x size image (cached)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    yy.setflags(write=False)
    xx.setflags(write=False)
    return yy, xx


def smooth_noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Zero-mean, unit-std noise with features about `scale` px, HxW float32."""
    m = max(3, round(size / max(scale, 1.0)))
    n = cv2.resize(rng.standard_normal((m, m), dtype=np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    return (n - n.mean()) / (n.std() + 1e-6)


def _mottled(rng: np.random.Generator, size: int, bgr: tuple[float, float, float], amp: float) -> np.ndarray:
    v = 1.0 + amp / 100 * smooth_noise(rng, size, size / 6) + 0.02 * rng.standard_normal((size, size), np.float32)
    return v[..., None] * np.asarray(bgr, np.float32)


def _supersampled(size: int, draw: Callable[[np.ndarray, int], None]) -> np.ndarray:
    big = np.zeros((size * 4, size * 4), np.uint8)
    draw(big, size * 4)
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _rounded_rect(img: np.ndarray, box: tuple[int, int, int, int], r: int, value: int) -> None:
    x0, y0, x1, y1 = box
    cv2.rectangle(img, (x0 + r, y0), (x1 - r, y1), value, -1)
    cv2.rectangle(img, (x0, y0 + r), (x1, y1 - r), value, -1)
    for cx, cy in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
        cv2.circle(img, (cx, cy), r, value, -1)


@functools.lru_cache(maxsize=8)
def _metal_geometry(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Plate outline with four mounting holes and a bore; returns (alpha, bevel highlight)."""

    def draw(img: np.ndarray, n: int) -> None:
        _rounded_rect(img, (int(0.14 * n), int(0.24 * n), int(0.86 * n), int(0.76 * n)), int(0.08 * n), 255)
        for fx, fy in ((0.23, 0.33), (0.77, 0.33), (0.23, 0.67), (0.77, 0.67)):
            cv2.circle(img, (int(fx * n), int(fy * n)), int(0.035 * n), 0, -1)
        cv2.circle(img, (n // 2, n // 2), int(0.075 * n), 0, -1)
        cv2.rectangle(img, (int(0.40 * n), int(0.66 * n)), (int(0.60 * n), int(0.69 * n)), 0, -1)

    alpha = _supersampled(size, draw)
    dist = cv2.distanceTransform((alpha > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    bevel = np.clip(1.0 - dist / max(2.0, 0.02 * size), 0, 1).astype(np.float32)
    return alpha, bevel


def _metal_part(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    alpha, bevel = _metal_geometry(size)
    k1, k2 = max(3, size // 3) | 1, max(3, size // 12) | 1
    s1 = cv2.blur(rng.standard_normal((size, size), np.float32), (k1, 1))
    s2 = cv2.blur(rng.standard_normal((size, size), np.float32), (k2, 1))
    streak = 1.6 * s1 / (s1.std() + 1e-6) + s2 / (s2.std() + 1e-6)
    yy, xx = pixel_grid(size)
    a = rng.uniform(0.6, 1.2)
    band = (xx * math.cos(a) + yy * math.sin(a)) / size - rng.uniform(0.45, 0.75)
    spec = np.exp(-(band / rng.uniform(0.10, 0.18)) ** 2)
    v = 128 + 7.0 * streak + 55 * spec + 45 * bevel - 20 * smooth_noise(rng, size, size / 3) * 0.3
    return v[..., None] * np.asarray((1.04, 1.0, 0.95), np.float32), alpha


@functools.lru_cache(maxsize=8)
def _label_design(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed label artwork: (label alpha, ink coverage, ink colour). Same for every part."""
    rng = np.random.default_rng(20240611)  # the design is part of the product, not a per-image variable
    n = size * 4
    shape = np.zeros((n, n), np.uint8)
    _rounded_rect(shape, (int(0.1 * n), int(0.18 * n), int(0.9 * n), int(0.82 * n)), int(0.02 * n), 255)
    dark = np.zeros_like(shape)
    red = np.zeros_like(shape)
    cv2.rectangle(red, (int(0.13 * n), int(0.21 * n)), (int(0.87 * n), int(0.32 * n)), 255, -1)
    cv2.circle(red, (int(0.80 * n), int(0.265 * n)), int(0.04 * n), 0, -1)
    cv2.circle(red, (int(0.80 * n), int(0.265 * n)), int(0.025 * n), 255, -1)
    for row, (y, h, val, img) in enumerate([(0.245, 0.04, 0, red), (0.37, 0.03, 255, dark), (0.43, 0.022, 255, dark),
                                            (0.48, 0.022, 255, dark), (0.53, 0.022, 255, dark)]):
        x, x_end = 0.16, (0.70 if row == 0 else 0.84 - 0.12 * (row % 2))
        while x < x_end:
            w = rng.uniform(0.025, 0.09)
            cv2.rectangle(img, (int(x * n), int(y * n)), (int(min(x + w, x_end) * n), int((y + h) * n)), val, -1)
            x += w + rng.uniform(0.012, 0.02)
    x, unit = 0.16, 0.004
    while x < 0.62:
        w = unit * int(rng.integers(1, 4))
        if rng.random() < 0.55:
            cv2.rectangle(dark, (int(x * n), int(0.60 * n)), (int((x + w) * n), int(0.76 * n)), 255, -1)
        x += w
    cv2.rectangle(dark, (int(0.68 * n), int(0.60 * n)), (int(0.84 * n), int(0.76 * n)), 255, max(2, n // 200))
    ds = [cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
          for im in (shape, dark, red)]
    ink = np.clip(ds[1] + ds[2], 0, 1)
    colour = (ds[1][..., None] * np.asarray((35, 30, 30), np.float32)
              + ds[2][..., None] * np.asarray((45, 40, 185), np.float32)) / np.maximum(ink, 1e-3)[..., None]
    return ds[0], ink, colour


def _label_part(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    alpha, ink, colour = _label_design(size)
    # print misregistration: the artwork shifts by a fraction of a pixel relative to the paper
    shift = np.array([[1, 0, rng.uniform(-0.7, 0.7)], [0, 1, rng.uniform(-0.7, 0.7)]], np.float32)
    ink = cv2.warpAffine(ink, shift, (size, size)) * rng.uniform(0.88, 1.0)
    colour = cv2.warpAffine(colour, shift, (size, size))
    fibres = cv2.blur(rng.standard_normal((size, size), np.float32), (3, 1))
    paper = (232 + 4 * fibres + 3 * smooth_noise(rng, size, size / 8))[..., None] * np.asarray(
        (0.96, 0.99, 1.0), np.float32)
    return paper * (1 - ink[..., None]) + colour * ink[..., None], alpha


def _cardboard(rng: np.random.Generator, size: int) -> np.ndarray:
    _, xx = pixel_grid(size)
    flutes = 6 * np.sin(xx * (2 * math.pi / max(6.0, size / 28)) + rng.uniform(0, 6.3))
    return _mottled(rng, size, (95, 135, 170), 6) + flutes[..., None]


def _fabric(rng: np.random.Generator, size: int, pose: tuple[float, float, float, float]) -> Scene:
    angle, dx, dy, scale = pose
    yy, xx = pixel_grid(size)
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    x0, y0 = xx - size / 2 - dx, yy - size / 2 - dy
    period = max(6.0, size / 20)
    u = (c * x0 + s * y0) / scale + 0.5 * period * 0.12 * smooth_noise(rng, size, size / 5)
    v = (-s * x0 + c * y0) / scale + 0.5 * period * 0.12 * smooth_noise(rng, size, size / 5)
    i, j = np.floor(u / period), np.floor(v / period)
    fu, fv = u / period - i, v / period - j
    tone_w, tone_f = rng.normal(1.0, 0.05, 64).astype(np.float32), rng.normal(1.0, 0.05, 64).astype(np.float32)
    warp_top = ((i + j) % 3) != 0  # 2/1 twill: warp floats over two picks, giving diagonal ribs
    prof_u, prof_v = np.sin(math.pi * fu) ** 0.4, np.sin(math.pi * fv) ** 0.4
    fib_v = cv2.blur(rng.standard_normal((size, size), np.float32), (1, 7))
    fib_h = cv2.blur(rng.standard_normal((size, size), np.float32), (7, 1))
    warp_val = (0.2 + 0.8 * prof_u) * (0.85 + 0.15 * prof_v) * tone_w[i.astype(np.int64) % 64] + 0.1 * fib_v
    weft_val = (0.2 + 0.8 * prof_v) * (0.85 + 0.15 * prof_u) * tone_f[j.astype(np.int64) % 64] + 0.1 * fib_h
    warp_col = np.asarray((120, 78, 45), np.float32)
    weft_col = np.asarray((175, 172, 168), np.float32)
    image = np.where(warp_top[..., None], warp_val[..., None] * warp_col, weft_val[..., None] * weft_col)
    slub = 1.0 + 0.06 * smooth_noise(rng, size, size / 10)
    bg = _mottled(rng, size, (28.0, 26.0, 25.0), 10.0)
    return Scene("woven_fabric", (image * slub[..., None]).astype(np.float32), np.ones((size, size), bool), bg)
