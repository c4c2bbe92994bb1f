"""node-opcua as the OPC UA peer: tests/opcua_node/peer.js run with the system's node, its JSON lines collected.

node-opcua is an implementation of OPC UA independent of asyncua (the server's own library), so a mistake the
two libraries share cannot hide. scripts/setup.sh installs node and runs `npm ci` in tests/opcua_node; where
either is missing the tests skip locally and fail in CI (helpers.ci.skip_unless_ci)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from helpers.ci import skip_unless_ci

FOLDER = Path(__file__).resolve().parents[1] / "opcua_node"


def node_binary() -> str:
    """The node executable, after checking node-opcua is installed (skip locally, fail in CI, when not)."""
    node = shutil.which("node")
    if node is None:
        skip_unless_ci("the node-opcua tests need Node.js (apt-get install nodejs npm; scripts/setup.sh does)")
    if not (FOLDER / "node_modules" / "node-opcua-client" / "package.json").is_file():
        skip_unless_ci(f"the node-opcua tests need `npm ci --omit=dev` in {FOLDER} (scripts/setup.sh runs it)")
    assert node is not None
    return node


class NodePeer:
    """`node peer.js ARGS` as a child; `lines` fills with its JSON objects as they arrive."""

    def __init__(self, url: str, pki: Path, events: int, user: str | None = "plc", password: str | None = None,
                 timeout_s: float = 300.0) -> None:
        args = {"url": url, "pki": str(pki), "user": user, "password": password, "events": events,
                "timeoutMs": int(timeout_s * 1000)}
        self.proc = subprocess.Popen([node_binary(), str(FOLDER / "peer.js"), json.dumps(args)], cwd=FOLDER,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[dict[str, Any]] = []
        self.other: list[str] = []  # what was not JSON (node-opcua's own warnings)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._errors = threading.Thread(target=self._drain_stderr, daemon=True)
        self._errors.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            text = raw.decode(errors="replace").strip()
            try:
                self.lines.append(json.loads(text))
            except ValueError:
                self.other.append(text[:500])

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.other.append(raw.decode(errors="replace").strip()[:500])

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [line for line in list(self.lines) if line.get("kind") == kind]

    def wait_for(self, kind: str, timeout: float) -> dict[str, Any]:
        """The first line of `kind`; fails with what the peer said when it exits or the time runs out first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.kinds(kind)
            if found:
                return found[0]
            if self.proc.poll() is not None:
                self._reader.join(5)
                found = self.kinds(kind)
                if found:
                    return found[0]
                raise AssertionError(f"node peer exited {self.proc.returncode} before {kind!r}: {self.report()}")
            time.sleep(0.1)
        raise AssertionError(f"no {kind!r} from the node peer in {timeout:.0f} s: {self.report()}")

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(5)
        return code

    def report(self) -> str:
        return json.dumps(self.lines[-5:])[:3000] + " | " + " / ".join(self.other[-10:])[:2000]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
