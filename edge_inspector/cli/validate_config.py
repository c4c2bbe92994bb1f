"""`edge-inspector validate-config`: check a config file and the model metadata it points at."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("validate-config", help="check a config file and its model's metadata, then exit",
                       description="Validate a YAML config and the metadata.json of the model directory it "
                       "names (no weights are loaded); exit 0 if valid, 2 with a one-line error if not. A model "
                       "directory that does not exist yet is reported as a warning, not an error.")
    p.add_argument("file", type=Path)
    p.set_defaults(func=cmd_validate_config)


def cmd_validate_config(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..model.metadata import ModelMetadata

    cfg = load_config(args.file)
    model_dir = cfg.model.path
    threshold = cfg.inspection.threshold
    if model_dir is not None and model_dir.is_dir():
        meta = ModelMetadata.load(model_dir)  # MetadataError -> one line, exit 2
        model = f"model {model_dir} ({meta.model_id}, {meta.kind})"
        shown = f"{threshold:g} from the config" if threshold != "auto" else f"{meta.image_threshold:g} from the model"
    else:
        # The config may be checked before the model is deployed; `run` still refuses a missing model.
        print(f"edge-inspector validate-config: warning: model directory {model_dir} not found; its metadata "
              "was not checked", file=sys.stderr)
        model = f"model {model_dir} (not checked)"
        shown = f"{threshold:g} from the config" if threshold != "auto" else "auto (model not checked)"
    profile = cfg.inspection.profile
    if profile is not None:
        from ..calibration import load_profile

        loaded = load_profile(profile)  # ProfileError / FileNotFoundError -> one line, exit 2
        if model_dir is not None and model_dir.is_dir():
            loaded.check_model(model_dir, source=f"inspection.profile {profile}")
        shown = f"{loaded.thresholds['image']:g} from profile {loaded.product}/{loaded.station} r{loaded.revision}"
    dashboard = ""
    if cfg.dashboard.enabled:
        from ..dashboard import read_token

        read_token(cfg.dashboard.token_file)  # DashboardError -> one line, exit 2
        dashboard = f", dashboard http://{cfg.dashboard.host}:{cfg.dashboard.port}/"
    print(f"{args.file}: OK (station {cfg.station_id}, source {cfg.source.kind}, {model}, "
          f"backend {cfg.model.backend}, threshold {shown}{dashboard})")
    return 0
