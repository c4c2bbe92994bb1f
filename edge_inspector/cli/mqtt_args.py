"""The broker flags of the CLI tools that talk to MQTT (`watch`, `threshold`): --host/--port, the account
and TLS. Parsing needs nothing heavy, so `--help` stays fast; the flags are applied by publish/mqtt_auth."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt


def add_client_args(p: argparse.ArgumentParser) -> None:
    """--host/--port plus the account and TLS flags of a CLI tool that talks to the broker."""
    p.add_argument("--host", default="localhost")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--username", default=None, help="broker account")
    p.add_argument("--password-file", type=Path, default=None, help="a file holding the account's password")
    p.add_argument("--tls", action="store_true", help="connect with TLS (port 8883 on most brokers)")
    p.add_argument("--ca-file", type=Path, default=None, help="--tls: the CA of the broker's certificate")
    p.add_argument("--cert-file", type=Path, default=None, help="--tls: client certificate (PEM)")
    p.add_argument("--key-file", type=Path, default=None, help="--tls: client key (PEM)")


def apply_client_args(client: mqtt.Client, args: argparse.Namespace) -> None:
    """apply_auth() from the flags of add_client_args(); ValueError names the flag or file."""
    password = None
    if args.password_file is not None:
        from ..config.secrets import read_secret

        password = read_secret(args.password_file, "--password-file")
    if password is not None and args.username is None:
        raise ValueError("--password-file needs --username")
    if not args.tls and (args.ca_file or args.cert_file or args.key_file):
        raise ValueError("--ca-file/--cert-file/--key-file need --tls")
    from ..publish.mqtt_auth import apply_auth

    apply_auth(client, username=args.username, password=password, tls=args.tls, ca_file=args.ca_file,
               cert_file=args.cert_file, key_file=args.key_file)
