"""`edge-inspector validate-config`: check a config file and the model metadata it points at."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Config


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("validate-config", help="check a config file and its model's metadata, then exit",
                       description="Validate a YAML config and the metadata.json of the model directory it "
                       "names (no weights are loaded); exit 0 if valid, 2 with a one-line error if not. A model "
                       "directory must exist and load with the configured backend (--skip-model: check the "
                       "config alone, e.g. before the model is deployed).")
    p.add_argument("file", type=Path)
    p.add_argument("--skip-model", action="store_true", help="do not check (or load) the model directory")
    p.set_defaults(func=cmd_validate_config)


def cmd_validate_config(args: argparse.Namespace) -> int:
    return validate_config(args.file, args.skip_model)


def validate_config(file: Path, skip_model: bool = False) -> int:
    """The checks of `validate-config` (install-service calls it too): print the OK line and return 0, or
    raise the one-line user error (ConfigError, MetadataError, BackendError, ...) the CLI prints."""
    from ..config import load_config
    from ..model.metadata import ModelMetadata

    cfg = load_config(file)
    model_dir = cfg.model.path
    threshold = cfg.inspection.threshold
    if skip_model:
        print(f"edge-inspector validate-config: warning: --skip-model: model {model_dir} was not checked",
              file=sys.stderr)
        model = f"model {model_dir} (not checked)"
        shown = f"{threshold:g} from the config" if threshold != "auto" else "auto (model not checked)"
    else:
        if model_dir is None or not model_dir.is_dir():
            raise FileNotFoundError(f"model.path {model_dir}: not found (deploy the model first, or --skip-model)")
        meta = ModelMetadata.load(model_dir)  # MetadataError -> one line, exit 2
        backend = _load(cfg)  # the weights load with the configured backend: BackendError -> one line
        model = f"model {model_dir} ({meta.model_id}, {meta.kind}, loads on {backend})"
        shown = f"{threshold:g} from the config" if threshold != "auto" else f"{meta.image_threshold:g} from the model"
        if cfg.model.defect_types is not None:
            from ..backends.defect_typer import DefectTyper

            typer = DefectTyper(cfg.model.defect_types, "cpu", threads=1)  # BackendError -> one line, exit 2
            model += f", defect types {', '.join(typer.classes)} ({typer.metadata.model_id})"
            typer.close()
    profile = cfg.inspection.profile
    if profile is not None:
        from ..calibration import load_profile

        loaded = load_profile(profile)  # ProfileError / FileNotFoundError -> one line, exit 2
        if not skip_model and model_dir is not None:
            loaded.check_model(model_dir, source=f"inspection.profile {profile}", tiling=cfg.model.tiling.spec())
        shown = f"{loaded.thresholds['image']:g} from profile {loaded.product}/{loaded.station} r{loaded.revision}"
    from ..config.secrets import missing_secrets

    for line in missing_secrets(cfg):  # systemd passes its credentials to the service only: `run` checks again
        print(f"edge-inspector validate-config: warning: {line}; not found here", file=sys.stderr)
    dashboard = ""
    if cfg.dashboard.enabled:
        if cfg.dashboard.token_file is not None:
            from ..dashboard import read_token

            read_token(cfg.dashboard.token_file)  # DashboardError -> one line, exit 2
        dashboard = f", dashboard http://{cfg.dashboard.host}:{cfg.dashboard.port}/"
    print(f"{file}: OK (station {cfg.station_id}, source {cfg.source.kind}, {model}, "
          f"backend {cfg.model.backend}, threshold {shown}{dashboard})")
    return 0


def _load(cfg: Config) -> str:
    """Load the model with the configured backend (as `run` would, without warming up); its name."""
    from ..backends import BackendOptions, create_backend

    m = cfg.model
    assert m.path is not None
    backend = create_backend(m.backend, m.path, m.device, BackendOptions(threads=1, precision=m.precision,
                                                                        max_batch=m.max_batch, tiling=m.tiling.spec()))
    try:
        return backend.name
    finally:
        backend.close()
