"""`install-service`: every step in order, one progress line each, then a summary of paths."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import config_file, enable, units, user, venv
from .companions import COMPANIONS, check_companion, enable_companion, install_companion
from .layout import USER, InstallError, Layout
from .shell import Say, say_left

# validate(config, skip_model): the checks of `validate-config`; raises the CLI's one-line user errors.
Validate = Callable[[Path, bool], None]


@dataclass(frozen=True)
class InstallOptions:
    """What `edge-inspector install-service` was asked to do."""

    station: str
    config: Path
    source: Path
    python: Path
    model: Path | None = None
    root: Path = Path("/")
    enable: bool = True
    extras: tuple[str, ...] = venv.DEFAULT_EXTRAS
    offline: bool = False
    # (companion name, its config file): the reject bridge and OPC UA server units beside the station's.
    companions: tuple[tuple[str, Path], ...] = ()


def _validated_text(opts: InstallOptions, validate: Validate, say: Say) -> str:
    """The config to install, checked as `validate-config` checks it: with model.path set to --model
    when one is given, so the metadata checked is that of the model being installed."""
    from ..config.loader import MAX_CONFIG_BYTES
    from ..config.yaml_safe import YamlFileError, read_text

    try:  # capped and strict UTF-8, as the loader reads it: a binary or huge file is one line, not a traceback
        text = read_text(opts.config, "config file", MAX_CONFIG_BYTES)
    except OSError as exc:
        raise InstallError(f"--config {opts.config}: cannot read it ({exc.strerror})") from exc
    except YamlFileError as exc:
        raise InstallError(f"--config {exc}") from None
    if opts.model is None:
        from ..config import load_config

        model_dir = load_config(opts.config).model.path
        deployed = model_dir is not None and model_dir.is_dir()
        if not deployed:
            say(f"config: model.path {model_dir} is not there yet: the service will not start until it is")
        validate(opts.config, not deployed)
        return text
    with tempfile.TemporaryDirectory(prefix="edge-inspector-check-") as tmp:
        candidate = Path(tmp) / opts.config.name
        candidate.write_text(config_file.set_model_path(text, str(opts.model.resolve()), str(opts.config)))
        validate(candidate, False)
    return text


def _own(layout: Layout, path: Path, mode: int, user_owned: bool = False) -> None:
    """Mode always; owner only on a live root, where the user exists (root:edge-inspector, or the user's)."""
    path.chmod(mode)
    if layout.is_live:
        import grp
        import pwd

        gid = grp.getgrnam(USER).gr_gid
        os.chown(path, pwd.getpwnam(USER).pw_uid if user_owned else 0, gid)


def install(opts: InstallOptions, validate: Validate, say: Say = print) -> list[str]:
    """Install or upgrade one station; returns the commands the operator still has to run."""
    layout = Layout(opts.root, opts.station)
    text = _validated_text(opts, validate, say)
    extras = opts.extras
    companions = []
    if opts.companions:  # checked before anything is written: a refused companion installs nothing
        from ..config import load_config

        station_id = load_config(opts.config).station_id
        for name, path in opts.companions:
            companion = COMPANIONS[name]
            companions.append((companion, check_companion(companion, path, station_id)))
            extras = extras if companion.extra in extras else (*extras, companion.extra)
    left = user.ensure_user(layout, say)
    for path in (layout.etc, layout.models, layout.state, layout.stations_dir):
        path.mkdir(parents=True, exist_ok=True)
    _own(layout, layout.models, 0o750)
    _own(layout, layout.state, 0o750, user_owned=True)
    say(f"dirs: {layout.etc}, {layout.models}, {layout.state}")
    if opts.model is not None:
        model = config_file.copy_model(opts.model, layout, say)
        if layout.is_live:
            for dirpath, _dirs, files in os.walk(model):
                _own(layout, Path(dirpath), 0o750)
                for name in files:
                    _own(layout, Path(dirpath) / name, 0o640)
        text = config_file.set_model_path(text, layout.target(model), str(opts.config))
    written = config_file.install_config(text, layout, say)
    _own(layout, written, 0o640)
    venv.create_venv(layout, opts.python, opts.source, extras, opts.offline, say)
    units.write_units(opts.source, layout, say)
    for companion, companion_text in companions:
        for path in install_companion(companion, companion_text, opts.source, layout, say)[:1]:
            _own(layout, path, 0o640)
    (layout.stations_dir / opts.station).write_text(f"{layout.target(layout.config)}\n", encoding="utf-8")
    left += enable.enable(layout, opts.enable, say)
    for companion, _ in companions:
        left += enable_companion(companion, layout, opts.enable, say)
    say(f"installed {layout.instance}:")
    for label, path in (("executable", layout.executable), ("config", layout.config), ("models", layout.models),
                        ("state", layout.state), ("unit", layout.unit_file),
                        *((c.name, c.config_path(layout)) for c, _ in companions)):
        say(f"  {label:<10} {path}")
    say_left(left, say)
    return left
