"""Command line: `edge-inspector VERB ...`. Imports are lazy so `--help` and the daemon stay light."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from . import __version__


def _add_run(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run the inspection daemon", description="Run the inspection daemon until "
                       "the source ends or SIGINT/SIGTERM.")
    p.add_argument("--config", "-c", type=Path, required=True, help="YAML config file")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    import signal

    from .config import load_config
    from .service.daemon import Daemon

    cfg = load_config(args.config)
    daemon = Daemon(cfg)
    signal.signal(signal.SIGTERM, lambda *_: daemon.stop())
    signal.signal(signal.SIGINT, lambda *_: daemon.stop())
    summary = daemon.run()
    for line in summary.lines():
        print(line)
    return 0 if summary.capture_error is None else 1


def _add_validate(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("validate-config", help="check a config file and exit",
                       description="Validate a YAML config; exit 0 if valid, 2 with a one-line error if not.")
    p.add_argument("file", type=Path)
    p.set_defaults(func=_cmd_validate)


def _cmd_validate(args: argparse.Namespace) -> int:
    from .config import load_config

    cfg = load_config(args.file)
    print(f"{args.file}: OK (station {cfg.station_id}, source {cfg.source.kind}, model {cfg.model.path}, "
          f"backend {cfg.model.backend})")
    return 0


def _add_synth(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("synth", help="generate a synthetic MVTec-layout data set and a line video",
                       description="Generate textured parts with realistic defects and masks (MVTec AD layout), "
                       "and a line video with per-frame ground truth.")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--category", default="brushed_metal", help="brushed_metal | woven_fabric | printed_label")
    p.add_argument("--size", type=int, default=256, help="image side in pixels")
    p.add_argument("--train", type=int, default=120, help="good training images")
    p.add_argument("--test-good", type=int, default=20)
    p.add_argument("--test-defect", type=int, default=8, help="test images per defect type")
    p.add_argument("--video-frames", type=int, default=60, help="frames of line video (0 = none)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_synth)


def _cmd_synth(args: argparse.Namespace) -> int:
    from .progress import ProgressBar
    from .synth import generate_dataset, render_line_video

    bar = ProgressBar("synth")
    summary = generate_dataset(args.out, args.category, n_train=args.train, n_test_good=args.test_good,
                               n_test_defect_per_type=args.test_defect, size=args.size, seed=args.seed,
                               progress=bar.update)
    bar.close()
    print(summary)
    if args.video_frames > 0:
        video = args.out / f"{args.category}_line.avi"
        truth = render_line_video(video, args.category, n_frames=args.video_frames, size=args.size,
                                  seed=args.seed + 1000)
        print(f"line video {video}: {len(truth)} frames, {sum(t.defective for t in truth)} defective")
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("train", help="train a model on good images",
                       description="Train an autoencoder on good images (MVTec category dir or plain folder), "
                       "calibrate its threshold on held-out good images and save a model dir.")
    p.add_argument("--data", type=Path, required=True, help="MVTec category dir (uses train/good) or image folder")
    p.add_argument("--out", type=Path, required=True, help="model directory to write")
    p.add_argument("--model", dest="kind", default="auto", choices=["auto", "scratch", "pixel", "feature"],
                   help="auto = feature AE when ImageNet weights exist, else scratch AE")
    p.add_argument("--input-size", type=int, default=256)
    p.add_argument("--encoder-layers", type=int, default=3, help="ResNet-50 stages used by the encoder (1-4)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--max-minutes", type=float, default=None, help="stop training after this wall time")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backbone-weights", type=Path, default=None, help="ResNet-50 ImageNet state dict file")
    p.add_argument("--random-backbone", action="store_true", help="feature AE without ImageNet weights: a frozen "
                   "random encoder (pipeline checks and benchmarks where no weights exist; far weaker)")
    p.add_argument("--width", type=int, default=128, help="decoder width (the feature AE uses 2 x width)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the kind's)")
    p.add_argument("--patience", type=int, default=10, help="early stop after this many epochs without a "
                   "better validation loss")
    p.add_argument("--hflip", action="store_true", help="random horizontal flips (not for oriented parts)")
    p.add_argument("--vflip", action="store_true", help="random vertical flips (not for oriented parts)")
    p.add_argument("--max-rotation", type=float, default=0.0, help="random rotation up to +-DEG degrees")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from .training.api import train_from_args

    result = train_from_args(args)
    print(result.summary())
    return 0


Adder = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _adders() -> list[Adder]:
    from .bench import add_bench
    from .cli_more import add_demo, add_evaluate, add_watch

    return [_add_run, _add_validate, _add_train, add_evaluate, add_bench, _add_synth, add_demo, add_watch]


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree; every verb has --help."""
    parser = argparse.ArgumentParser(prog="edge-inspector", description=__doc__)
    parser.add_argument("--version", action="version", version=f"edge-inspector {__version__}")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for add in _adders():
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; known user errors print one line and exit 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .errors import USER_ERRORS

    try:
        return int(args.func(args))
    except USER_ERRORS as exc:
        print(f"edge-inspector {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
