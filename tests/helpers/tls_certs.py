"""A throwaway PKI for broker tests, made with the openssl command: a CA, the broker's certificate for
127.0.0.1/localhost, and client certificates signed by the CA (plus one signed by a stranger CA)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(folder: Path, name: str = "test-ca") -> Pair:
    folder.mkdir(parents=True, exist_ok=True)
    _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt",
         "-subj", f"/CN={name}", "-days", "2", cwd=folder)
    return Pair(folder / f"{name}.crt", folder / f"{name}.key")


def issue(ca: Pair, folder: Path, name: str, san: str | None = None) -> Pair:
    """A certificate for CN=name signed by `ca` (server certificates get subjectAltName `san`)."""
    _run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
         "-subj", f"/CN={name}", cwd=folder)
    ext = folder / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    _run("x509", "-req", "-in", f"{name}.csr", "-CA", str(ca.cert), "-CAkey", str(ca.key), "-CAcreateserial",
         "-out", f"{name}.crt", "-days", "2", "-extfile", str(ext), cwd=folder)
    return Pair(folder / f"{name}.crt", folder / f"{name}.key")
