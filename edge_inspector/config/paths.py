"""Where a config's files are: relative paths made absolute against the config file's folder, and the output
locations filled in (under STATE_DIRECTORY when systemd gives one, never the working directory)."""

from __future__ import annotations

import os
from pathlib import Path

from .models import Config


def resolve_paths(cfg: Config, base: Path) -> Config:
    """Make relative paths absolute against the config file's folder and fill output defaults."""

    def fix(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else (base / p))

    cfg.source.path = fix(cfg.source.path)
    cfg.model.path = fix(cfg.model.path)
    cfg.model.backbone_weights = fix(cfg.model.backbone_weights)
    cfg.model.defect_types = fix(cfg.model.defect_types)
    cfg.inspection.profile = fix(cfg.inspection.profile)
    cfg.mqtt.ca_file = fix(cfg.mqtt.ca_file)
    cfg.mqtt.cert_file = fix(cfg.mqtt.cert_file)
    cfg.mqtt.key_file = fix(cfg.mqtt.key_file)
    cfg.mqtt.password_file = fix(cfg.mqtt.password_file)
    cfg.dashboard.token_file = fix(cfg.dashboard.token_file)
    cfg.dashboard.labels_dir = fix(cfg.dashboard.labels_dir)
    out = cfg.output
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    out.dir = fix(out.dir) or (Path(state) if state else base / "edge-inspector-state")
    out.audit_log = fix(out.audit_log) or out.dir / "audit.jsonl"
    out.evidence_dir = fix(out.evidence_dir) or out.dir / "evidence"
    out.annotated_video = fix(out.annotated_video)
    cfg.spool.path = fix(cfg.spool.path) or out.dir / "spool.sqlite"
    cfg.sparkplug.spool_path = fix(cfg.sparkplug.spool_path) or out.dir / "sparkplug-spool.sqlite"
    return cfg
