"""Where an installed station's files live, under a root that is `/` on a real line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

USER = "edge-inspector"
UNIT_TEMPLATE = "edge-inspector@.service"
# An instance name goes into file names and `edge-inspector@NAME`: keep it to what needs no escaping.
STATION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class InstallError(RuntimeError):
    """The install or uninstall cannot go on; the message is one line naming the file or command."""


@dataclass(frozen=True)
class Layout:
    """Every path the installer writes, for one station under one root."""

    root: Path
    station: str

    def __post_init__(self) -> None:
        if not STATION_RE.match(self.station):
            raise InstallError(f"--station {self.station!r}: use letters, digits, '_', '.', '-' (max 64)")
        if not self.root.is_absolute():
            raise InstallError(f"--root {self.root}: must be an absolute path")

    @property
    def is_live(self) -> bool:
        """True when installing onto the running system (root `/`): users and systemctl are real."""
        return self.root == Path("/")

    def under(self, path: str) -> Path:
        """A target path (as the installed system sees it) on this machine."""
        return self.root / path.lstrip("/")

    @property
    def opt(self) -> Path:
        return self.under("/opt/edge-inspector")

    @property
    def venv(self) -> Path:
        return self.opt / ".venv"

    @property
    def executable(self) -> Path:
        return self.venv / "bin" / "edge-inspector"

    @property
    def stations_dir(self) -> Path:
        """One marker file per installed station: the venv and the template unit are shared."""
        return self.opt / "stations"

    @property
    def etc(self) -> Path:
        return self.under("/etc/edge-inspector")

    @property
    def config(self) -> Path:
        return self.etc / f"{self.station}.yaml"

    @property
    def models(self) -> Path:
        return self.under("/var/lib/edge-inspector/models")

    @property
    def state(self) -> Path:
        """The instance's StateDirectory=: spool, audit log, evidence."""
        return self.under(f"/var/lib/edge-inspector/{self.station}")

    @property
    def unit_dir(self) -> Path:
        return self.under("/etc/systemd/system")

    @property
    def unit_file(self) -> Path:
        return self.unit_dir / UNIT_TEMPLATE

    @property
    def instance(self) -> str:
        return f"edge-inspector@{self.station}.service"

    def target(self, path: Path) -> str:
        """The path as the installed system sees it (the root prefix removed)."""
        return str(Path("/") / path.relative_to(self.root))

    def other_stations(self) -> list[str]:
        """Installed stations other than this one."""
        if not self.stations_dir.is_dir():
            return []
        return sorted(p.name for p in self.stations_dir.iterdir() if p.name != self.station)
