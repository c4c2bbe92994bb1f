"""`uninstall-service`: stop and remove a station; --purge also removes its config, models and state."""

from __future__ import annotations

import shutil
from pathlib import Path

from . import enable, units
from .companions import remove_companions
from .layout import Layout
from .shell import Say, say_left


def _remove(path: Path, say: Say, what: str) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    else:
        return
    say(f"{what}: removed {path}")


def uninstall(root: Path, station: str, purge: bool, say: Say = print) -> list[str]:
    """Remove one station. The venv, the template unit and the models are shared by every station on the
    computer, so they go only with the last one. Returns the commands left for the operator."""
    layout = Layout(root, station)
    left = enable.disable(layout, say)
    _remove(layout.stations_dir / station, say, "station")
    others = layout.other_stations()
    left += remove_companions(layout, not others, purge, say)
    if others:
        say(f"shared: kept {layout.venv} and {layout.unit_file}: still used by {', '.join(others)}")
    else:
        units.remove_units(layout, say)
        _remove(layout.opt, say, "venv")
        enable.reload(layout, say)
    if purge:
        for path in (layout.config, layout.config.with_name(layout.config.name + ".new"), layout.state):
            _remove(path, say, "purge")
        if not others:
            _remove(layout.models, say, "purge")
            if layout.etc.is_dir() and not any(layout.etc.iterdir()):
                _remove(layout.etc, say, "purge")
            parent = layout.models.parent
            if parent.is_dir() and not any(parent.iterdir()):
                _remove(parent, say, "purge")
        else:
            say(f"purge: kept {layout.models}: shared with {', '.join(others)}")
    else:
        say(f"kept: {layout.config}, {layout.models}, {layout.state} (remove them with --purge)")
    say(f"uninstalled {layout.instance}")
    say_left(left, say)
    return left
