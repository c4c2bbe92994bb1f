"""`edge-inspector calibrate`: score held-out images, choose thresholds by a policy, save a profile + report."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .tiling_args import add_tiling_args, tiling_spec

if TYPE_CHECKING:
    from ..calibration.profile import Profile

POLICY_HELP = ("target-false-reject (good images only: reject at most --target of good parts, with "
               "--confidence), max-f1, target-escape (--target = escape rate; both need --defects), "
               "fixed (--threshold)")


def _roi(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or values[0] < 0 or values[1] < 0 or values[2] <= 0 or values[3] <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected x,y,width,height in pixels (e.g. 10,20,300,200)")
    return values


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("calibrate", help="calibrate thresholds for a product/station and save a profile",
                       description="Scores held-out good (and optionally defective) images with the deployed "
                       "backend, applies a threshold policy and writes calibration/<product>/<station>.yaml "
                       "(a new revision, the old one kept in history/) and a report with plots and a CSV.")
    p.add_argument("--model", type=Path, required=True, help="model or exported engine directory")
    p.add_argument("--good", type=Path, action="append", required=True,
                   help="held-out good images: a folder, or an MVTec category dir (test/good is used); repeatable")
    p.add_argument("--defects", type=Path, help="labelled defects: MVTec category dir or good/ + defect/ folders")
    p.add_argument("--product", required=True)
    p.add_argument("--station", required=True)
    p.add_argument("--policy", default="target-false-reject",
                   choices=("target-false-reject", "max-f1", "target-escape", "fixed"), help=POLICY_HELP)
    p.add_argument("--target", type=float, default=0.005, help="target rate (default 0.005 = 0.5%%)")
    p.add_argument("--confidence", type=float, default=0.95, help="one-sided confidence of the bounds (0.95)")
    p.add_argument("--threshold", type=float, help="image threshold for --policy fixed")
    p.add_argument("--pixel-threshold", type=float,
                   help="anomaly-map threshold for regions (default: the model's, capped at the image threshold)")
    p.add_argument("--min-area", type=int, default=30, help="smallest region in frame pixels (default 30)")
    p.add_argument("--min-peak", type=float, help="a region's maximum must reach this (default: pixel threshold)")
    p.add_argument("--roi", type=_roi, help="inspected area x,y,width,height in frame pixels")
    p.add_argument("--ignore-mask", type=Path, help="PNG, nonzero pixels are not inspected")
    p.add_argument("--auto-mask", action="store_true", help="find the part in the good images (Otsu + largest "
                   "contour) and inspect only it: background, fixtures and the image border are ignored")
    p.add_argument("--mask-margin", type=int, default=0, help="--auto-mask: also ignore this many pixels along "
                   "the part's own edge")
    p.add_argument("--author", default=os.environ.get("USER") or "unknown", help="who calibrates (default $USER)")
    p.add_argument("--reason", default="", help="why (required): e.g. 'new lighting on line 3'")
    p.add_argument("--out", type=Path, default=Path("calibration"), help="profiles root (default ./calibration)")
    p.add_argument("--report", type=Path, help="report dir (default OUT/<product>/reports/<station>.r<rev>)")
    p.add_argument("--backend", default="auto", help="auto, torch, onnxruntime or tensorrt (default auto)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="CPU inference threads (0 = all)")
    add_tiling_args(p)
    p.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Run the calibration, save the profile revision and the report, print a summary."""
    from ..calibration.calibration_report import write_report
    from ..calibration.calibration_run import CalibrationRequest, run_calibration
    from ..calibration.profile import next_revision, profile_path, save_profile
    from ..calibration.validate import CalibrationError

    if not args.reason.strip():
        raise CalibrationError("--reason is required: say why you calibrate (it is kept in the profile history)")
    if args.policy == "fixed" and args.threshold is None:
        raise CalibrationError("--policy fixed needs --threshold")
    path = profile_path(args.out, args.product, args.station)  # refuse bad names before minutes of scoring
    if args.auto_mask:
        if args.ignore_mask is not None:
            raise CalibrationError("--auto-mask and --ignore-mask: give one of them")
        args.ignore_mask = _auto_mask(args, path)
    elif args.ignore_mask is None:
        args.ignore_mask = _model_part_mask(args, path)
    req = CalibrationRequest(
        model_dir=args.model, good=args.good, product=args.product, station=args.station, reason=args.reason,
        defects=args.defects, policy=args.policy, target=args.target, confidence=args.confidence,
        threshold=args.threshold, pixel_threshold=args.pixel_threshold, min_area=args.min_area,
        min_peak=args.min_peak, roi=args.roi, ignore_mask=args.ignore_mask, author=args.author,
        backend=args.backend, device=args.device, threads=args.threads, tiling=tiling_spec(args))
    profile, rows, info = run_calibration(req)
    if profile.ignore_mask is not None:  # the profile names its mask relative to itself, so the folder can move
        profile.ignore_mask = os.path.relpath(profile.ignore_mask, path.parent.resolve())
    report_dir = args.report or (args.out / args.product / "reports"
                                 / f"{args.station}.r{next_revision(args.out, args.product, args.station):04d}")
    saved = save_profile(profile, args.out)
    write_report(profile, rows, info, report_dir)
    print(format_summary(profile, saved, report_dir, info))
    return 0


def _auto_mask(args: argparse.Namespace, path: Path) -> Path:
    """Write the automatic part mask beside the profile, named for the revision it belongs to."""
    import cv2

    from ..calibration.calibration_run import good_images
    from ..calibration.profile import next_revision
    from ..model.part_geometry import auto_ignore_mask
    from ..training.data import read_bgr

    files = [f for folder in args.good for f in good_images(folder)]
    mask = auto_ignore_mask([read_bgr(f) for f in files], margin=args.mask_margin)
    out = path.with_name(f"{args.station}.r{next_revision(args.out, args.product, args.station):04d}.mask.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), mask)
    print(f"part mask from {len(files)} good images: {out} ({(mask == 0).mean():.1%} of the frame inspected)")
    return out


def _model_part_mask(args: argparse.Namespace, path: Path) -> Path | None:
    """A model trained on its part (train --auto-mask/--ignore-mask) is calibrated on the part: its mask is
    copied beside the profile, named for the revision, so the profile stands on its own."""
    import shutil

    from ..calibration.profile import next_revision
    from ..model.metadata import ModelMetadata
    from ..model.part_mask import part_mask_path

    src = part_mask_path(args.model, ModelMetadata.load(args.model))
    if src is None:
        return None
    out = path.with_name(f"{args.station}.r{next_revision(args.out, args.product, args.station):04d}.mask.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, out)
    print(f"part mask from the model ({src}): {out}")
    return out


def format_summary(profile: Profile, saved: Path, report_dir: Path, info: dict[str, Any]) -> str:
    """The lines a technician reads after a calibration."""
    e, conf = profile.expected, float(info["confidence"])
    esc = ("n/a (no defective images)" if e["escape_rate"] is None
           else f"{e['escape_rate']:.2%} on the sample, at most {e['escape_upper']:.2%} ({conf:.0%} confidence)")
    lines = [
        f"policy:          {profile.policy['name']} {profile.policy['params']}",
        f"image threshold: {profile.thresholds['image']:.6g} (model had {float(info['old_threshold']):.6g})",
        f"pixel threshold: {profile.thresholds['pixel']:.6g}; regions >= {profile.regions['min_area']} px, "
        f"peak >= {profile.regions['min_peak']:.6g}",
        f"samples:         {profile.samples['good']} good, {profile.samples['defect']} defective",
        f"false rejects:   {e['false_reject_rate']:.2%} on the sample, at most {e['false_reject_upper']:.2%} "
        f"({conf:.0%} confidence)",
        f"escapes:         {esc}",
    ]
    lines += [f"WARNING: {w}" for w in profile.warnings]
    lines += [f"profile:         {saved} (revision {profile.revision})", f"report:          {report_dir}/report.md"]
    return "\n".join(lines)
