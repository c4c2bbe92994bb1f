"""Credentials and TLS for every MQTT client this package makes: the daemon's and the CLI tools'
(`watch`, `threshold`, whose flags are cli/mqtt_args.py). One place, so a broker that requires TLS with
client certificates and accounts works the same for all of them."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import redact

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
