"""`edge-inspector synth`: a synthetic MVTec-layout data set and a line video."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
    p.set_defaults(func=cmd_synth)


def cmd_synth(args: argparse.Namespace) -> int:
    from ..evaluation.progress import ProgressBar
    from ..synth import generate_dataset, render_line_video

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
