#!/usr/bin/env python3
"""Copy an MVTec-layout dataset resized to the model's input size, to carry it to a GPU machine.

    python scripts/resize_dataset.py ../shared/data/mvtec_bottle/bottle .devdata/bottle --size 256

Images become SIZE x SIZE JPEG (quality 95, area interpolation; the model resizes to a square anyway),
masks SIZE x SIZE PNG (nearest), so the evaluation at input size sees exactly what it would see on the
full-size data. Folder structure and file stems are kept, so masks still pair with their images.
Needs the package importable (`pip install -e .`, as scripts/setup.sh does, or PYTHONPATH=.).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

from edge_inspector.training.data import image_files  # the listing training and evaluation use


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=Path, help="MVTec category dir (train/, test/, ground_truth/)")
    p.add_argument("dst", type=Path)
    p.add_argument("--size", type=int, default=256)
    args = p.parse_args()
    files = image_files(args.src)
    if not files:
        print(f"error: no images under {args.src}", file=sys.stderr)
        return 2
    for f in files:
        rel = f.relative_to(args.src)
        is_mask = rel.parts[0] == "ground_truth"
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE if is_mask else cv2.IMREAD_COLOR)
        if img is None:
            print(f"error: cannot decode {f}", file=sys.stderr)
            return 2
        interp = cv2.INTER_NEAREST if is_mask else cv2.INTER_AREA
        img = cv2.resize(img, (args.size, args.size), interpolation=interp)
        out = args.dst / (rel if is_mask else rel.with_suffix(".jpg"))
        out.parent.mkdir(parents=True, exist_ok=True)
        params = [] if is_mask else [cv2.IMWRITE_JPEG_QUALITY, 95]
        cv2.imwrite(str(out.with_suffix(".png") if is_mask else out), img, params)
    print(f"{len(files)} files from {args.src} -> {args.dst} at {args.size}x{args.size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
