"""`edge-inspector train`: train, calibrate and save a model directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..model.kinds import INSPECTION_KINDS, KINDS, REGISTRY


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("train", help="train a model on good images",
                       description="Train a model (an autoencoder by default) on good images (MVTec category dir or "
                       "plain folder), "
                       "calibrate its threshold on held-out good images and save a model dir.")
    p.add_argument("--data", type=Path, required=True, help="MVTec category dir (uses train/good) or image folder")
    p.add_argument("--out", type=Path, required=True, help="model directory to write")
    p.add_argument("--preset", choices=["cpu-30min"], default=None,
                   help="cpu-30min: the best model a 2-core CPU trains in 30 minutes (scratch AE, 192 px, bf16 "
                   "where the CPU has bf16 units); flags given beside it win")
    p.add_argument("--kind", "--model", dest="kind", default=None, choices=["auto", *KINDS], metavar="KIND",
                   help="auto (default) = feature AE when ImageNet weights exist, else scratch AE; "
                   + "; ".join(f"{k.name}: {k.summary}" for k in REGISTRY.values()))
    p.add_argument("--input-size", type=int, default=None, help="square network input in pixels (default 256)")
    p.add_argument("--encoder-layers", type=int, default=None,
                   help="ResNet-50 stages used by the encoder (1-4, default 3)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--max-minutes", type=float, default=None, help="stop training after this wall time")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backbone-weights", type=Path, default=None, help="ResNet-50 ImageNet state dict file")
    p.add_argument("--random-backbone", action="store_true", help="feature AE without ImageNet weights: a frozen "
                   "random encoder (pipeline checks and benchmarks where no weights exist; far weaker)")
    p.add_argument("--width", type=int, default=None, help="decoder width (default 128; the feature AE uses "
                   "2 x width)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the kind's)")
    p.add_argument("--patience", type=int, default=None, help="early stop after this many epochs without a "
                   "better validation loss (default 10)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=None,
                   help="auto (default): bf16 autocast on GPUs and on CPUs with bf16 units (AMX, AVX512-BF16)")
    p.add_argument("--hflip", action="store_true", help="random horizontal flips (not for oriented parts)")
    p.add_argument("--vflip", action="store_true", help="random vertical flips (not for oriented parts)")
    p.add_argument("--max-rotation", type=float, default=0.0, help="random rotation up to +-DEG degrees")
    p.add_argument("--roi", type=int, nargs=4, metavar=("X", "Y", "W", "H"), default=None,
                   help="crop every frame to this rectangle before resizing (training and inference)")
    p.add_argument("--ignore-mask", type=Path, default=None, help="PNG at frame size, nonzero = not the part: "
                   "background neither trains nor scores (stored in the model dir)")
    p.add_argument("--auto-mask", action="store_true", help="find the part in the good images (Otsu + largest "
                   "contour, as calibrate --auto-mask) and train and score on it only")
    p.add_argument("--mask-margin", type=int, default=0, help="--auto-mask: also ignore this many pixels along "
                   "the part's edge")
    p.add_argument("--tiles", action="store_true", help="train on overlapping --input-size tiles of each good "
                   "image at --working-size (for model.tiling / --tiles at inference)")
    p.add_argument("--working-size", type=int, default=0, help="--tiles: resize the longer side to this first "
                   "(aspect kept; 0 = native resolution)")
    p.add_argument("--overlap", type=int, default=32, help="--tiles: pixels shared by neighbouring tiles")
    p.add_argument("--grid-tiles", action="store_true", help="--tiles: train on the inference grid's tiles only "
                   "(default: a random tile-sized crop at the working resolution for every sample)")
    labelled = ", ".join(k for k in INSPECTION_KINDS if REGISTRY[k].supervised)
    p.add_argument("--split", type=Path, default=None, help=f"{labelled}: a development split (docs/splits/"
                   "*.dev.txt); they train on train/good plus its defective images only (evaluate them with --split "
                   "FILE --subset remainder)")
    p.add_argument("--init-encoder", type=Path, default=None, metavar="MODEL_DIR", help=f"{labelled}: start from "
                   "the encoder weights of a trained autoencoder (e.g. scratch or pixel) in MODEL_DIR")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from ..training.api import train_from_args

    result = train_from_args(args)
    print(result.summary())
    return 0
