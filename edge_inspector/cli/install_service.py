"""`edge-inspector install-service` / `uninstall-service`: a station as a systemd service (logic in install/)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The checkout this command runs from: edge_inspector/cli/ -> the folder with setup.py.
CHECKOUT = Path(__file__).resolve().parents[2]


def _extras(value: str) -> tuple[str, ...]:
    return tuple(e.strip() for e in value.split(",") if e.strip())


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("install-service", help="install or upgrade a station as a systemd service",
                       description="Install (or upgrade: run it again) one station as edge-inspector@STATION: "
                       "user edge-inspector, a venv in /opt/edge-inspector/.venv, /etc/edge-inspector/STATION.yaml, "
                       "/var/lib/edge-inspector/{models,STATION}, the unit in /etc/systemd/system; then enables and "
                       "starts it when the root is / and systemd runs. Config, models, spool and evidence are kept "
                       "on an upgrade. See docs/deploy.md.")
    p.add_argument("--station", required=True, help="instance name, e.g. line1")
    p.add_argument("--config", required=True, type=Path, help="station YAML; checked like validate-config first")
    p.add_argument("--model", type=Path, help="model or engine dir to copy to /var/lib/edge-inspector/models/; "
                   "the installed config's model.path points at the copy")
    p.add_argument("--root", type=Path, default=Path("/"), help="install under this root (default /); under any "
                   "other root no user is created and systemctl is not run, their commands are printed instead")
    p.add_argument("--python", type=Path, default=Path("/usr/bin/python3"),
                   help="interpreter for the venv (default /usr/bin/python3)")
    p.add_argument("--source", type=Path, default=CHECKOUT,
                   help=f"checkout to pip install and take the unit from (default {CHECKOUT})")
    p.add_argument("--extras", type=_extras, default=("onnx", "dashboard"),
                   help="pip extras, comma-separated (default onnx,dashboard; add torch for the torch backend)")
    p.add_argument("--offline", action="store_true", help="download nothing: the venv sees --python's "
                   "site-packages and pip installs only this package (--no-deps --no-index); for CI and lines "
                   "without internet, with the dependencies installed in --python's environment beforehand")
    p.add_argument("--no-enable", dest="enable", action="store_false",
                   help="install but do not enable or start the instance")
    p.add_argument("--reject-bridge", type=Path, metavar="FILE", help="also install this station's reject bridge "
                   "(edge-inspector-reject-bridge@STATION) with this config, checked as `reject-bridge --check`")
    p.add_argument("--opcua", type=Path, metavar="FILE", help="also install this station's OPC UA server "
                   "(edge-inspector-opcua@STATION) with this config, checked as `opcua-server --check`")
    p.set_defaults(func=cmd_install)

    u = sub.add_parser("uninstall-service", help="stop and remove a station's service",
                       description="Stop and disable edge-inspector@STATION and remove it; the unit and the venv "
                       "go with the last station. Config, models and state are kept unless --purge.")
    u.add_argument("--station", required=True, help="instance name, e.g. line1")
    u.add_argument("--root", type=Path, default=Path("/"), help="the root it was installed under (default /)")
    u.add_argument("--purge", action="store_true", help="also remove the config, the state (spool, audit log, "
                   "evidence) and, with the last station, the models")
    u.set_defaults(func=cmd_uninstall)


def _validate(path: Path, skip_model: bool) -> None:
    """The checks of `validate-config` (its OK line is the step's progress line)."""
    from .validate_config import validate_config

    validate_config(path, skip_model)


def _say(line: str) -> None:
    print(line, flush=True)


def cmd_install(args: argparse.Namespace) -> int:
    from ..install import InstallError, InstallOptions, install

    opts = InstallOptions(station=args.station, config=args.config, source=args.source.resolve(),
                          python=args.python, model=args.model, root=args.root.resolve(), enable=args.enable,
                          extras=args.extras, offline=args.offline,
                          companions=tuple((name, path) for name, path in (("reject-bridge", args.reject_bridge),
                                                                          ("opcua", args.opcua)) if path))
    try:
        install(opts, _validate, _say)
    except InstallError as exc:
        print(f"edge-inspector install-service: error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    from ..install import InstallError, uninstall

    try:
        uninstall(args.root.resolve(), args.station, args.purge, _say)
    except InstallError as exc:
        print(f"edge-inspector uninstall-service: error: {exc}", file=sys.stderr)
        return 2
    return 0
