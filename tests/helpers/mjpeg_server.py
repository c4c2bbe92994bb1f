"""A tiny MJPEG-over-HTTP camera for tests: `multipart/x-mixed-replace` JPEG frames on 127.0.0.1.

Run it standalone::

    python tests/helpers/mjpeg_server.py --port 8081 --fps 20 --size 64 [--quiet-after N]

and read http://127.0.0.1:8081/stream.mjpg (OpenCV's FFmpeg backend picks the mpjpeg demuxer from the
content type). Every frame is a generated grey image with its frame number drawn on it. With
`--quiet-after N` the camera hangs after N frames in all (counted over every connection): the
connection stays open and nothing more is sent, and later connections get headers but no frame.

`MjpegServer` runs the script as a child process, so a test can SIGKILL it like a camera losing power
and start it again on the same port.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

BOUNDARY = "eiframe"
PATH = "/stream.mjpg"


def jpeg_frame(number: int, size: int) -> bytes:
    """A size x size JPEG: a grey level that changes with the frame number, the number drawn on it."""
    import cv2
    import numpy as np

    image = np.full((size, size, 3), 60 + (number * 7) % 140, np.uint8)
    cv2.putText(image, str(number), (2, size // 2), cv2.FONT_HERSHEY_SIMPLEX, size / 100.0, (255, 255, 255), 1)
    ok, data = cv2.imencode(".jpg", image)
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return bytes(data.tobytes())


class _Camera(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, fps: float, size: int, quiet_after: int | None) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.fps, self.size, self.quiet_after = fps, size, quiet_after
        self._lock = threading.Lock()
        self._sent = 0

    def next_number(self) -> int | None:
        """The number of the next frame to send, or None once the camera has gone quiet."""
        with self._lock:
            if self.quiet_after is not None and self._sent >= self.quiet_after:
                return None
            self._sent += 1
            return self._sent - 1


class _Handler(BaseHTTPRequestHandler):
    server: _Camera

    def do_GET(self) -> None:
        if self.path.split("?")[0] != PATH:
            self.send_error(404, f"only {PATH} is served")
            return
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        interval = 1.0 / self.server.fps
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while True:
                number = self.server.next_number()
                if number is None:  # hung camera: keep the connection, send nothing
                    time.sleep(3600)
                    continue
                data = jpeg_frame(number, self.server.size)
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n"
                self.wfile.write(head.encode("ascii") + data + b"\r\n")
                self.wfile.flush()
                time.sleep(interval)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # one line per request would only be noise in test output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MjpegServer:
    """The MJPEG camera as a child process: start(), kill() (SIGKILL), url. Restartable on the same port."""

    def __init__(self, port: int | None = None, fps: float = 20.0, size: int = 64,
                 quiet_after: int | None = None) -> None:
        self.port = port or free_port()
        self.fps, self.size, self.quiet_after = fps, size, quiet_after
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def start(self, timeout: float = 10.0) -> MjpegServer:
        """Start the process and wait until its port accepts connections."""
        cmd = [sys.executable, str(Path(__file__).resolve()), "--port", str(self.port), "--fps", str(self.fps),
               "--size", str(self.size)]
        if self.quiet_after is not None:
            cmd += ["--quiet-after", str(self.quiet_after)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise RuntimeError(f"mjpeg server on port {self.port} exited with {self._proc.returncode}: {err}")
            with socket.socket() as s:
                s.settimeout(0.2)
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        self.kill()
        raise TimeoutError(f"mjpeg server did not accept connections on port {self.port} within {timeout} s")

    def kill(self) -> None:
        """SIGKILL the process (a camera losing power): open connections are reset, nothing is flushed."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait(timeout=5)
        if self._proc is not None and self._proc.stderr is not None:
            self._proc.stderr.close()
        self._proc = None

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fps", type=float, default=20.0)
    parser.add_argument("--size", type=int, default=64, help="frame width and height in pixels")
    parser.add_argument("--quiet-after", type=int, default=None, metavar="N",
                        help="after N frames keep connections open and send nothing (a hung camera)")
    args = parser.parse_args(argv)
    with _Camera(args.port, args.fps, args.size, args.quiet_after) as server:
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
