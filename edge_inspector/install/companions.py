"""The station's companion services: the reject bridge and the OPC UA server, each a unit of its own beside
`edge-inspector@STATION` (systemd/edge-inspector-reject-bridge@.service, systemd/edge-inspector-opcua@.service).

Each companion's config is checked by the tool's own loader before anything is written, must serve the station
being installed (a bridge listening to another station would never fire), and is installed as
/etc/edge-inspector/STATION.SUFFIX.yaml, the path its unit reads.
"""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..atomic_file import write_atomic
from ..errors import UserError
from ..model.kinds import import_target
from .layout import InstallError, Layout
from .shell import Say, run_command, systemd_running
from .units import render_unit


@dataclass(frozen=True)
class Companion:
    """One companion tool: its unit template, config suffix, loader and the loaded config's station field."""

    name: str
    template: str
    suffix: str
    loader: str
    station_field: str
    extra: str  # the pip extra the tool needs in the venv

    def config_path(self, layout: Layout) -> Path:
        return layout.etc / f"{layout.station}.{self.suffix}.yaml"

    def unit_path(self, layout: Layout) -> Path:
        return layout.unit_dir / self.template

    def instance(self, layout: Layout) -> str:
        return self.template.replace("@.service", f"@{layout.station}.service")


COMPANIONS = {c.name: c for c in (
    Companion("reject-bridge", "edge-inspector-reject-bridge@.service", "reject-bridge",
              "edge_inspector.bridges.config:load_bridge_config", "station", "bridge"),
    Companion("opcua", "edge-inspector-opcua@.service", "opcua", "edge_inspector.opcua.config:load_opcua_config",
              "station_id", "opcua"),
)}


def check_companion(companion: Companion, path: Path, station_id: str) -> str:
    """The companion config's text after the tool's own checks; InstallError (one line) when it is refused or
    serves another station than `station_id` (the station config's)."""
    try:
        cfg = import_target(companion.loader)(path)
    except FileNotFoundError:
        raise InstallError(f"--{companion.name} {path}: not found") from None
    except (UserError, ValueError, OSError) as exc:
        raise InstallError(f"--{companion.name} {str(exc).splitlines()[0][:300]}") from None
    served = getattr(cfg, companion.station_field)
    if served != station_id:
        raise InstallError(f"--{companion.name} {path}: {companion.station_field} {served!r} is not this station's "
                           f"station_id {station_id!r}: it would serve another station")
    return path.read_text(encoding="utf-8")


def install_companion(companion: Companion, text: str, source: Path, layout: Layout, say: Say) -> list[Path]:
    """Write the companion's config (0640, the previous one kept as .old) and its unit template."""
    config = companion.config_path(layout)
    if config.exists():
        shutil.copy2(config, config.with_name(config.name + ".old"))
    write_atomic(config, text.encode("utf-8"), mode=0o640)  # 0640 from its first byte: it may name secrets
    unit = render_unit(source, layout, companion.template, companion.instance(layout))
    target = companion.unit_path(layout)
    write_atomic(target, unit.encode("utf-8"), mode=0o644)
    say(f"{companion.name}: wrote {config} and {target}")
    return [config, target]


def enable_companion(companion: Companion, layout: Layout, enable_now: bool, say: Say) -> list[str]:
    """Enable and (re)start the companion on a live system; returns the commands left for the operator."""
    instance = companion.instance(layout)
    if not (layout.is_live and systemd_running()) or not enable_now:
        return [f"systemctl enable --now {instance}"]
    for cmd in (["systemctl", "enable", instance], ["systemctl", "restart", instance]):
        run_command(cmd, timeout=120)
        say(f"systemd: ran {shlex.join(cmd)}")
    return []


def remove_companions(layout: Layout, last_station: bool, purge: bool, say: Say) -> list[str]:
    """Stop and disable this station's companions; their unit templates go with the last station and their
    configs with --purge. Returns the commands left for the operator."""
    left: list[str] = []
    live = layout.is_live and systemd_running()
    for companion in COMPANIONS.values():
        config = companion.config_path(layout)
        if not config.exists() and not companion.unit_path(layout).exists():
            continue
        cmd = ["systemctl", "disable", "--now", companion.instance(layout)]
        if live:
            run_command(cmd, timeout=120)
            say(f"systemd: ran {shlex.join(cmd)}")
        else:
            left.append(shlex.join(cmd))
        paths = ([companion.unit_path(layout)] if last_station else []) + \
            ([config, config.with_name(config.name + ".old")] if purge else [])
        for path in paths:
            if path.exists():
                path.unlink()
                say(f"{companion.name}: removed {path}")
    return left
