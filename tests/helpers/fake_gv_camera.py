"""Aravis's simulated GigE Vision camera (`arv-fake-gv-camera-0.8`, Debian package aravis-tools) as a real
process on loopback, speaking GVCP/GVSP to the code under test.

It listens on 127.0.0.1's GVCP port 3956, which only one such camera per machine can hold, so every user
takes an exclusive file lock for as long as it needs a camera: two test runs on one machine take turns
instead of talking to each other's camera. Open it by address (Aravis opens a GigE Vision device by IP,
no discovery needed): discovery lists it as `Aravis-Fake-<serial>`, but a camera opened by that name in
this container gets its control channel and no image stream (Aravis 0.8.26, lo plus one eth0).
"""

from __future__ import annotations

import fcntl
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

BINARY = "arv-fake-gv-camera-0.8"
ADDRESS = "127.0.0.1"
GVCP_PORT = 3956
LOCK = Path("/tmp/edge-inspector-fake-gv-camera.lock")


def missing() -> str | None:
    """Why the fake camera cannot run here, or None."""
    if shutil.which(BINARY) is None:
        return f"{BINARY} not found (apt-get install aravis-tools; scripts/setup.sh installs it with the dev extra)"
    try:
        from edge_inspector.capture.genicam_gi import load_aravis

        load_aravis()
    except ImportError as exc:
        return str(exc)
    return None


def _listening() -> bool:
    """Whether some process holds 127.0.0.1:3956/udp (the camera is up once it does)."""
    wanted = f"0100007F:{GVCP_PORT:04X}"
    return any(line.split()[1] == wanted for line in Path("/proc/net/udp").read_text().splitlines()[1:])


class FakeGvCamera:
    """One fake camera process; start() again after kill() is the same camera powered back on."""

    def __init__(self, log: Path, serial: str = "EI01") -> None:
        self.serial, self.log = serial, log
        self.address = ADDRESS
        self.name = f"Aravis-Fake-{serial}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock: IO[bytes] | None = None

    def __enter__(self) -> FakeGvCamera:
        self._lock = LOCK.open("ab")
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # waits for another run's camera to go away
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
        if self._lock is not None:
            self._lock.close()  # closing releases the lock
            self._lock = None

    def start(self, timeout: float = 5.0) -> FakeGvCamera:
        if _listening():
            raise RuntimeError(f"{ADDRESS}:{GVCP_PORT}/udp is taken by another process: stop that GigE Vision "
                               "camera (simulator) first")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([BINARY, "-i", ADDRESS, "-s", self.serial], stdout=out,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not _listening():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{BINARY} did not start: {self.log.read_text(errors='replace')[-300:]}")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """SIGKILL, as a camera losing power: no goodbye on the network."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None
