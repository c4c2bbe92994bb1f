"""The systemd unit: the template from the checkout's systemd/ folder, written into the root's unit dir."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..atomic_file import write_atomic
from .layout import UNIT_TEMPLATE, InstallError, Layout
from .shell import Say

HEADER = ("# Installed by `edge-inspector install-service` from {source}; the next install replaces this file.\n"
          "# Local changes go into a drop-in: systemctl edit edge-inspector@STATION\n")
DOC = Path("docs") / "deploy.md"


def render_unit(source: Path, layout: Layout, name: str = UNIT_TEMPLATE, instance: str = "") -> str:
    """The template `name`'s text with a header saying where it came from (and how to edit `instance`, the
    station's unit by default); refuses a template that does not run the venv this installer creates."""
    template = source / "systemd" / name
    try:
        text = template.read_text(encoding="utf-8")
    except OSError as exc:
        raise InstallError(f"{template}: cannot read the unit template ({exc.strerror})") from exc
    executable = layout.target(layout.executable)
    if f"ExecStart={executable} " not in text:
        raise InstallError(f"{template}: ExecStart= does not run {executable}")
    header = HEADER.format(source=source)
    return (header.replace("edge-inspector@STATION", instance) if instance else header) + text


def write_units(source: Path, layout: Layout, say: Say) -> list[Path]:
    """Write (or replace) the template unit and the deploy guide its Documentation= points at."""
    text = render_unit(source, layout)
    layout.unit_dir.mkdir(parents=True, exist_ok=True)
    existed = layout.unit_file.exists()
    write_atomic(layout.unit_file, text.encode("utf-8"), mode=0o644)
    written = [layout.unit_file]
    if (source / DOC).is_file():
        doc = layout.opt / DOC
        doc.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / DOC, doc)
        written.append(doc)
    say(f"units: {'replaced' if existed else 'wrote'} {layout.unit_file}")
    return written


def remove_units(layout: Layout, say: Say) -> None:
    """Remove the template unit and any drop-in folder for this instance."""
    drop_in = layout.unit_dir / f"{layout.instance}.d"
    for path in (layout.unit_file, drop_in):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        say(f"units: removed {path}")
