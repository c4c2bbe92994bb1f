"""Credentials and TLS for every MQTT client this package makes: the daemon's and the CLI tools'
(`watch`, `threshold`). One place, so a broker that requires TLS with client certificates and accounts
works the same for all of them."""

from __future__ import annotations

import argparse
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from . import redact

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt


def apply_auth(client: mqtt.Client, *, username: str | None, password: str | None, tls: bool,
               ca_file: Path | None = None, cert_file: Path | None = None, key_file: Path | None = None) -> None:
    """Set the account and TLS on a paho client; ValueError names the file that cannot be used."""
    if username is not None:
        redact.register(password)
        client.username_pw_set(username, password)
    if not tls:
        return
    for key, path in (("ca_file", ca_file), ("cert_file", cert_file), ("key_file", key_file)):
        if path is not None and not Path(path).is_file():
            raise ValueError(f"mqtt.{key} {path}: not found")
    try:
        client.tls_set(ca_certs=str(ca_file) if ca_file else None, certfile=str(cert_file) if cert_file else None,
                       keyfile=str(key_file) if key_file else None, cert_reqs=ssl.CERT_REQUIRED,
                       tls_version=ssl.PROTOCOL_TLS_CLIENT)
    except (ssl.SSLError, OSError) as exc:
        raise ValueError(f"mqtt TLS files ({ca_file}, {cert_file}, {key_file}): {exc}") from None


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
        from .config.secrets import read_secret

        password = read_secret(args.password_file, "--password-file")
    if password is not None and args.username is None:
        raise ValueError("--password-file needs --username")
    if not args.tls and (args.ca_file or args.cert_file or args.key_file):
        raise ValueError("--ca-file/--cert-file/--key-file need --tls")
    apply_auth(client, username=args.username, password=password, tls=args.tls, ca_file=args.ca_file,
               cert_file=args.cert_file, key_file=args.key_file)
