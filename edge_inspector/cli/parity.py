"""`edge-inspector parity`: do two or more backends (or exports) score the same images the same way?"""

from __future__ import annotations

import argparse
from pathlib import Path


def _run_spec(value: str) -> tuple[str, Path]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"{value!r}: expected BACKEND=MODEL_DIR, e.g. onnxruntime=engines/bottle")
    return name, Path(path)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("parity", help="compare backends/exports on the same images",
                       description="Score the same images with each BACKEND=MODEL_DIR given by --run; the first "
                       "is the reference. Prints score and map differences and every part whose verdict "
                       "changes (each model with its own thresholds). Run it after export or build-engine, "
                       "on the line's own images.")
    p.add_argument("--run", type=_run_spec, action="append", required=True, metavar="BACKEND=MODEL_DIR",
                   help="e.g. --run torch=models/bottle --run onnxruntime=engines/bottle (two or more)")
    p.add_argument("--data", type=Path, required=True,
                   help="images: an MVTec category dir (its test/ images) or any folder of images")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="use at most this many images (spread evenly)")
    p.add_argument("--fail-on-flip", action="store_true", help="exit 1 when any verdict differs")
    p.set_defaults(func=cmd_parity)


def cmd_parity(args: argparse.Namespace) -> int:
    from ..backends import BackendOptions, create_backend
    from ..evaluation.backend_parity import compare_backends
    from ..evaluation.progress import ProgressBar
    from ..export.export_api import spread
    from ..training.data import image_files, read_bgr

    if len(args.run) < 2:
        raise ValueError("--run: give two or more BACKEND=MODEL_DIR (the first is the reference)")
    folder = args.data / "test" if (args.data / "test").is_dir() else args.data
    if not folder.is_dir():
        raise FileNotFoundError(f"--data {args.data}: not a folder")
    files = image_files(folder)
    if args.limit:
        files = spread(files, args.limit)
    if not files:
        raise ValueError(f"--data {args.data}: no images")
    images = [read_bgr(f) for f in files]
    options = BackendOptions(threads=args.threads)
    backends = [create_backend(name, path, args.device, options) for name, path in args.run]
    for b in backends:
        b.warmup()
    bar = ProgressBar("parity")
    done = [0]
    total = len(images) * len(backends)

    def tick() -> None:
        done[0] += 1
        bar.update(done[0], total)

    results = compare_backends(backends, images, [str(f) for f in files], tick=tick)
    bar.close()
    print(f"reference: {backends[0].name} ({args.run[0][1]}), {len(images)} images from {folder}")
    for result in results:
        print(result.line())
    for b in backends:
        b.close()
    return 1 if args.fail_on_flip and any(r.verdict_flips for r in results) else 0
