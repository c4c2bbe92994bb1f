"""`edge-inspector evaluate`: run a model over an MVTec-layout test set and write the report."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from .tiling_args import add_tiling_args, tiling_spec

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("evaluate", help="evaluate a model on an MVTec-layout test set",
                       description="Image AUROC, pixel AUROC, AU-PRO, F1 and metrics at the calibrated "
                       "threshold; writes JSON, Markdown and PNG plots.")
    p.add_argument("--data", type=Path, required=True, help="MVTec category dir (with test/ and ground_truth/)")
    p.add_argument("--model", type=Path, required=True, help="model directory")
    p.add_argument("--backend", default="auto", help="auto, torch, onnxruntime or tensorrt (default auto)")
    p.add_argument("--threads", type=int, default=0, help="CPU inference threads (0 = all)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, default=None, help="report dir (default MODEL/eval-CATEGORY)")
    add_tiling_args(p)
    p.add_argument("--split", type=Path, default=None, help="a development split file (docs/splits/*.dev.txt): "
                   "evaluate only --subset of the test set")
    p.add_argument("--subset", choices=("dev", "remainder"), default="remainder",
                   help="--split: the development images (to choose methods on) or the untouched remainder")
    p.add_argument("--ignore-mask", type=Path, default=None, help="PNG at frame size, nonzero = not inspected: "
                   "score the part only (default: the model's own part mask, if it was trained with one)")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score every test image, then write report.json, report.md and the PNG plots."""
    import cv2
    import numpy as np

    from ..backends import BackendOptions, create_backend
    from ..evaluation import evaluate_arrays, format_summary, write_report
    from ..evaluation.machine import describe_machine
    from ..evaluation.plots import plot_roc, plot_score_histogram, plot_worst_cases
    from ..evaluation.progress import ProgressBar
    from ..model.kinds import model_kind
    from ..model.part_mask import part_at, part_scores
    from ..training.data import load_mvtec_test

    spec = tiling_spec(args)
    backend = create_backend(args.backend, args.model, args.device,
                             BackendOptions(threads=args.threads, tiling=spec))
    meta = backend.metadata
    samples = load_mvtec_test(args.data)
    if args.split is not None:
        from ..evaluation.splits import read_split, select

        rel = [str(Path(s.path).relative_to(args.data)) for s in samples]
        samples = select(samples, rel, read_split(args.split), args.subset)
    backend.warmup()
    h, w = meta.input_size
    if spec is not None and samples:  # pixel metrics at the working resolution (at most 512): tiling's point
        from ..model.tiling import working_shape

        height, width = samples[0].image.shape[:2]
        h, w = working_shape(height, width, min(512, spec.working_size or 512))
    ignore, mask_source = _ignore_mask(args, meta)
    # An image-level kind (model/kinds.py) has no map: its score is the whole image's, and pixel metrics are n/a.
    has_map = model_kind(meta.kind).has_map
    if not has_map and ignore is not None:
        log.warning("model %s (%s) is image-level: the part mask %s is not applied to its score", meta.model_id,
                    meta.kind, mask_source)
        ignore, mask_source = None, None
    scores, maps, masks, latencies, thumbs = [], [], [], [], []
    bar = ProgressBar("evaluate")
    for i, s in enumerate(samples):
        t0 = time.perf_counter()
        out = backend.infer([s.image])[0]
        latencies.append((time.perf_counter() - t0) * 1000)
        amap, score = out.map, out.score
        if ignore is not None:  # the part only: background and borders neither score nor count as pixels
            part = part_at(ignore, amap.shape[:2])
            amap, score = np.where(part, amap, np.float32(0)), float(part_scores(amap[None], part[None])[0])
        scores.append(score)
        # Metrics at the model's input resolution keep memory flat for large images.
        maps.append(cv2.resize(amap, (w, h), interpolation=cv2.INTER_AREA))
        mask = s.mask if s.mask is not None else np.zeros(s.image.shape[:2], bool)
        masks.append(cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0)
        thumbs.append(cv2.resize(s.image, (w, h), interpolation=cv2.INTER_AREA))
        bar.update(i + 1, len(samples))
    bar.close()
    env = describe_machine()
    env.update({"data": str(args.data), "backend": backend.name,
                "split": None if args.split is None else {"file": str(args.split), "subset": args.subset},
                "part_mask": mask_source})
    types = [s.defect_type for s in samples]
    result = evaluate_arrays(args.data.name, types, np.array(scores), np.stack(maps) if has_map else None,
                             np.stack(masks),
                             meta.image_threshold, meta.model_id, meta.kind, latencies, env)
    suffix = "" if args.split is None else f"-{args.subset}"
    out_dir = args.out or args.model / f"eval-{args.data.name}{suffix}"
    paths = write_report(result, out_dir)
    _write_scores(out_dir / "scores.csv", [str(s.path) for s in samples], types, scores)
    labels = np.array([t != "good" for t in types])
    plot_roc(labels, np.array(scores), result.image_auroc, out_dir / "roc.png", f"{args.data.name} image ROC")
    plot_score_histogram(labels, np.array(scores), meta.image_threshold, out_dir / "scores.png",
                         f"{args.data.name} scores")
    plot_worst_cases(thumbs, maps, labels, np.array(scores), meta.image_threshold, out_dir / "worst_cases.png")
    print(format_summary(result))
    print(f"report: {paths['markdown']} (+ report.json, scores.csv, roc.png, scores.png, worst_cases.png)")
    backend.close()
    return 0


def _write_scores(path: Path, files: list[str], types: list[str], scores: list[float]) -> None:
    """Every image's score, the one the daemon and `calibrate` compute for it (compare them per image)."""
    import csv

    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["path", "defect_type", "score"])
        out.writerows([file, kind, f"{score:.6f}"] for file, kind, score in zip(files, types, scores))


def _ignore_mask(args: argparse.Namespace, meta: Any) -> tuple[Any, str | None]:
    """(ignore mask or None, where it came from): --ignore-mask, else the model's part mask."""
    from ..model.part_mask import load_ignore, part_mask_path

    path = args.ignore_mask if args.ignore_mask is not None else part_mask_path(args.model, meta)
    if path is None:
        return None, None
    ignore = load_ignore(path)
    print(f"part mask {path}: {(ignore == 0).mean():.1%} of the frame scored")
    return ignore, str(path)
