"""Calibration run: find the images, score them with the deployed backend, apply a policy, build the Profile.

Which images: good images must be held out from training (a model scores its own training images low, which
would promise a false-reject rate the line never sees). An MVTec category dir therefore contributes test/good
only (train/good trained the model); any other folder contributes every image under it. A defects dir is either
MVTec (test/<type> defects, test/good as more good images) or `good/` + `defect/[<type>/]`.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import BackendOptions, create_backend
from ..config.models import InspectionConfig
from ..evaluation import policies
from ..evaluation.progress import ProgressBar
from ..model.kinds import model_kind
from ..model.part_mask import check_fits, load_ignore, part_scores
from ..model.tiling import TileSpec
from ..postprocess import inspection_mask, regions
from ..training.data import image_files, read_bgr
from .profile import Profile, model_fingerprint
from .validate import CalibrationError


@dataclass
class CalibrationRequest:
    """Everything the calibrate verb asks for (paths as given; validated here)."""

    model_dir: Path
    good: Sequence[Path]
    product: str
    station: str
    reason: str
    defects: Path | None = None
    policy: str = "target-false-reject"
    target: float = 0.005
    confidence: float = 0.95
    threshold: float | None = None
    pixel_threshold: float | None = None
    min_area: int = 30
    min_peak: float | None = None
    roi: list[int] | None = None
    ignore_mask: Path | None = None
    author: str = field(default_factory=getpass.getuser)
    backend: str = "auto"
    device: str = "auto"
    threads: int = 0
    tiling: TileSpec | None = None  # score tile by tile at native resolution, as the daemon's model.tiling


@dataclass
class ImageRow:
    """One scored image: label good/defect, defect type, image score, max of the inspected map, region found."""

    path: Path
    label: str
    defect_type: str
    score: float
    map_max: float
    has_region: bool = False


def good_images(folder: Path) -> list[Path]:
    """Held-out good images of one --good folder (MVTec dir -> test/good; otherwise every image under it)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--good {folder}: folder not found")
    if (folder / "test" / "good").is_dir():
        return image_files(folder / "test" / "good")
    if (folder / "train" / "good").is_dir():
        raise CalibrationError(f"--good {folder}: MVTec dir without test/good; train/good trained the model and would "
                         f"understate false rejects: give a folder of held-out good images")
    return image_files(folder)


def defect_images(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(extra good images, [(defect image, type)]) from an MVTec category dir or a good/ + defect/ folder."""
    folder = Path(folder)
    if (folder / "test").is_dir():
        root, good_name = folder / "test", "good"
    elif (folder / "defect").is_dir():
        root, good_name = folder, "good"
    else:
        raise FileNotFoundError(f"--defects {folder}: expected an MVTec category dir (test/<type>/) or "
                                f"good/ + defect/ folders")
    goods = image_files(root / good_name) if (root / good_name).is_dir() else []
    found: list[tuple[Path, str]] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in (good_name,) and p.name[0] != "."):
        for path in image_files(sub):
            rel = path.relative_to(sub).parts
            kind = rel[0] if sub.name == "defect" and len(rel) > 1 else sub.name
            found.append((path, kind))
    if not found:
        raise CalibrationError(f"--defects {folder}: no defective images found")
    return goods, found


def run_calibration(req: CalibrationRequest, show_progress: bool = True) -> tuple[Profile, list[ImageRow],
                                                                                  dict[str, Any]]:
    """Score, choose thresholds, build the (unsaved) Profile; returns it, the rows and run info for the report."""
    if not req.reason.strip():
        raise CalibrationError("--reason: say why you calibrate (it goes into the profile's history)")
    if req.policy not in policies.POLICIES:
        raise CalibrationError(f"--policy {req.policy!r}: expected one of {', '.join(policies.POLICIES)}")
    goods = [p for folder in req.good for p in good_images(folder)]
    extra, defects = defect_images(req.defects) if req.defects is not None else ([], [])
    seen: set[Path] = set()
    items: list[tuple[Path, str, str]] = []
    for path, label, kind in [(p, "good", "good") for p in goods + extra] + [(p, "defect", t) for p, t in defects]:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            items.append((path, label, kind))
    if not any(label == "good" for _, label, _ in items):
        raise CalibrationError(f"--good {', '.join(map(str, req.good))}: no good images found")
    if req.policy in ("max-f1", "target-escape") and not defects:
        raise CalibrationError(f"--policy {req.policy} needs labelled defective images: pass --defects DIR")
    # the daemon's loader and checks (model/part_mask.load_ignore); each image is checked against it in _score
    ignore = None if req.ignore_mask is None else load_ignore(req.ignore_mask)
    backend = create_backend(req.backend, req.model_dir, req.device,
                             BackendOptions(threads=req.threads, tiling=req.tiling))
    if not model_kind(backend.metadata.kind).has_map and (req.roi is not None or ignore is not None):
        backend.close()
        raise CalibrationError(f"--roi/--ignore-mask: model {req.model_dir} ({backend.metadata.kind}) scores whole "
                               "images and has no map to restrict; calibrate it without them")
    try:
        rows, maps = _score(backend, items, req.roi, ignore, show_progress, req.ignore_mask)
        meta, backend_name = backend.metadata, backend.name
    finally:
        backend.close()
    good = np.array([r.score for r in rows if r.label == "good"])
    bad = np.array([r.score for r in rows if r.label == "defect"])
    try:  # policies are pure functions raising ValueError; here that is the user's input
        result = _apply_policy(req, good, bad)
    except ValueError as exc:
        raise CalibrationError(str(exc)) from None
    # Regions come from the map; a pixel threshold above the image threshold would let a part that scores
    # between them pass for want of a region, silently raising the threshold: cap it (explicit values warn).
    pixel = min(meta.pixel_threshold, result.threshold) if req.pixel_threshold is None else req.pixel_threshold
    if req.pixel_threshold is not None and pixel > result.threshold:
        result.warnings.append(f"pixel threshold {pixel:.4g} is above the image threshold {result.threshold:.4g}: "
                               f"parts scoring between them pass for want of a region")
    min_peak = pixel if req.min_peak is None else req.min_peak
    cfg = InspectionConfig(min_defect_area=req.min_area, min_region_peak=min_peak)
    image_level = not model_kind(meta.kind).has_map  # the daemon judges such a model by its score alone
    for row, amap in zip(rows, maps, strict=True):
        row.has_region = image_level or bool(regions(amap, pixel, cfg))  # the daemon's region search and filters
    result.warnings.extend(_verdict_warnings(result, rows, req.min_area))
    fingerprint = model_fingerprint(req.model_dir, req.tiling)
    profile = Profile(
        product=req.product, station=req.station, author=req.author or "unknown", reason=req.reason.strip(),
        model={"model_id": meta.model_id, "fingerprint": fingerprint},
        policy={"name": result.policy, "params": result.params},
        thresholds={"image": float(result.threshold), "pixel": float(pixel)},
        regions={"min_area": int(req.min_area), "min_peak": float(min_peak)},
        samples={"good": len(good), "defect": len(bad)},
        expected={"false_reject_rate": result.false_reject_rate, "false_reject_upper": result.false_reject_upper,
                  "escape_rate": result.escape_rate, "escape_upper": result.escape_upper},
        roi=list(req.roi) if req.roi is not None else None,
        ignore_mask=str(Path(req.ignore_mask).resolve()) if req.ignore_mask is not None else None,
        warnings=list(result.warnings))
    info = {"backend": backend_name, "old_threshold": meta.image_threshold, "old_pixel": meta.pixel_threshold,
            "model_dir": str(req.model_dir), "confidence": req.confidence}
    return profile, rows, info


def _verdict_warnings(result: policies.PolicyResult, rows: list[ImageRow], min_area: int) -> list[str]:
    """What the score-only rates do not show: region filters letting defects through, many good parts rejected."""
    out = []
    thr = result.threshold
    lost = [r for r in rows if r.label == "defect" and r.score >= thr and not r.has_region]
    if lost:
        n_bad = sum(r.label == "defect" for r in rows)
        out.append(f"{len(lost)} of {n_bad} defective images score above the threshold but have no region >= "
                   f"{min_area} px (peak, ROI and mask filters): they PASS; the escape rate above counts score only")
    good = [r for r in rows if r.label == "good"]
    rejects = sum(r.score >= thr for r in good)
    if result.policy != "max-f1" and rejects / len(good) > 0.05:  # max-f1 says so in its own words
        out.append(f"the threshold rejects {rejects} of {len(good)} good images ({rejects / len(good):.0%}) "
                   f"on the sample")
    return out


def _score(backend: Any, items: list[tuple[Path, str, str]], roi: list[int] | None, ignore: np.ndarray | None,
           show_progress: bool, mask_path: Path | None = None) -> tuple[list[ImageRow], list[np.ndarray]]:
    backend.warmup()
    bar = ProgressBar("calibrate") if show_progress else None
    rows, maps = [], []
    for i, (path, label, kind) in enumerate(items):
        try:
            image = read_bgr(path)
        except ValueError as exc:
            raise CalibrationError(str(exc)) from None
        if ignore is not None:
            check_fits(ignore, image.shape[:2], mask_path or "(in memory)")
        out = backend.infer([image])[0]
        amap = out.map
        keep = inspection_mask(amap.shape, roi, ignore)
        score = float(out.score)
        if keep is not None:  # pixels outside the inspected area neither form regions nor raise the score
            score = float(part_scores(amap[None], keep[None])[0])  # the daemon's score (InspectionMask)
            amap = np.where(keep, amap, np.float32(0)).astype(np.float32)
        rows.append(ImageRow(path, label, kind, score, float(amap.max())))
        maps.append(amap)
        if bar is not None:
            bar.update(i + 1, len(items))
    if bar is not None:
        bar.close()
    return rows, maps


def _apply_policy(req: CalibrationRequest, good: np.ndarray, bad: np.ndarray) -> policies.PolicyResult:
    if req.policy == "target-false-reject":
        return policies.target_false_reject(good, req.target, req.confidence, bad)
    if req.policy == "target-escape":
        return policies.target_escape(good, bad, req.target, req.confidence)
    if req.policy == "max-f1":
        return policies.max_f1(good, bad, req.confidence)
    if req.threshold is None:
        raise CalibrationError("--policy fixed needs --threshold")
    return policies.fixed(good, req.threshold, bad, req.confidence)
