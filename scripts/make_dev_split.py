#!/usr/bin/env python3
"""Write the development split of one MVTec-layout category (the evaluation protocol in docs/benchmarks.md).

    python scripts/make_dev_split.py DATA_ROOT/bottle docs/splits/bottle.dev.txt [--fraction 0.3] [--seed 0]

Run once per category and commit the file; never regenerate it after looking at remainder results.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge_inspector.evaluation.splits import draw_dev_split
from edge_inspector.training.data import IMAGE_SUFFIXES


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("category", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--fraction", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    test = args.category / "test"
    paths = [str(f.relative_to(args.category)) for f in sorted(test.glob("*/*")) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not paths:
        print(f"{test}: no test images", file=sys.stderr)
        return 2
    dev = draw_dev_split(paths, args.fraction, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(f"# development split of {args.category.name}: {len(dev)} of {len(paths)} test images, "
                        f"fraction {args.fraction}, seed {args.seed}\n" + "\n".join(dev) + "\n")
    print(f"{args.out}: {len(dev)} development images, {len(paths) - len(dev)} in the remainder")
    return 0


if __name__ == "__main__":
    sys.exit(main())
