"""`edge-inspector opcua-server`: serve the station over OPC UA (logic in edge_inspector/opcua/)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("opcua-server", help="serve a station's state and results over OPC UA (Machine Vision)",
                       description="A read-only OPC UA server fed by the station's MQTT verdict and status topics "
                                   "(docs/deploy.md, OPC UA). Needs the opcua extra: pip install .[opcua]")
    p.add_argument("--config", required=True, metavar="OPCUA.yaml", help="the OPC UA server's config file")
    p.add_argument("--check", action="store_true", help="check the config and exit")
    p.set_defaults(func=cmd_opcua_server)


def cmd_opcua_server(args: argparse.Namespace) -> int:
    from ..opcua.config import OpcuaConfigError, load_opcua_config

    cfg = load_opcua_config(args.config)
    if args.check:
        print(f"{args.config}: OK (station {cfg.station_id}, {cfg.opcua.endpoint})")
        return 0
    try:
        from ..opcua.server import run
    except ImportError as exc:
        raise OpcuaConfigError(f"opcua-server needs asyncua: pip install 'edge-inspector[opcua]' ({exc})") from None
    return run(cfg)
