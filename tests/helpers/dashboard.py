"""A daemon with its dashboard on a free port, and a small HTTP client for the tests."""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_inspector.config import load_config
from edge_inspector.dashboard import start_dashboard
from edge_inspector.service.daemon import Daemon
from edge_inspector.synth import render_line_video
from helpers.daemon_process import DaemonProcess, wait_for, write_config
from helpers.mjpeg_server import free_port


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class Http:
    """GET/POST against one dashboard; never raises on 4xx/5xx (the status is the answer)."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None,
                token: str | None = "default", headers: dict[str, str] | None = None,
                wait_if_limited: bool = True) -> Answer:
        """One request; a 429 from the rate limiter is waited out (Retry-After) unless wait_if_limited is False."""
        sent = {**({} if content_type is None else {"Content-Type": content_type}), **(headers or {})}
        use = self.token if token == "default" else token
        if use is not None:
            sent["Authorization"] = f"Bearer {use}"
        for _ in range(60):
            answer = self._once(urllib.request.Request(self.base + path, data=body, method=method, headers=sent))
            if answer.status != 429 or not wait_if_limited or "Retry-After" not in answer.headers:
                return answer
            time.sleep(min(5.0, float(answer.headers["Retry-After"])))
        return answer

    @staticmethod
    def _once(req: urllib.request.Request) -> Answer:
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                return Answer(res.status, res.read(), dict(res.headers))
        except urllib.error.HTTPError as err:
            return Answer(err.code, err.read(), dict(err.headers))

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post_json(self, path: str, data: Any, token: str | None = "default") -> Answer:
        return self.request("POST", path, json.dumps(data).encode(), "application/json", token)

    def upload(self, path: str, name: str, data: bytes, field: str = "image") -> Answer:
        boundary = secrets.token_hex(8)
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        return self.request("POST", path, body, f"multipart/form-data; boundary={boundary}")


def start_dashboard_daemon(tmp_path: Path, trained_model: Any, broker: Any, station: str, profile: Path, *,
                           n_frames: int = 16, fps: float = 8.0, pacing: str = "realtime",
                           **sections: dict[str, Any]) -> tuple[Daemon, threading.Thread, Http]:
    """A looping synthetic line video judged with `profile`, the dashboard on a free localhost port (pacing
    "fastest": each frame waits for the scorer, so a busy machine drops none)."""
    model_dir, category, size = trained_model
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=n_frames, defect_rate=0.5, size=size, seed=5)
    token = secrets.token_hex(16)
    (tmp_path / "dashboard.token").write_text(token + "\n")
    (tmp_path / "dashboard.token").chmod(0o600)  # a token file others can read is refused
    port = free_port()
    dashboard = {"enabled": True, "port": port, "token_file": str(tmp_path / "dashboard.token"),
                 "what_if_frames": n_frames, **sections.pop("dashboard", {})}
    config = write_config(tmp_path / "config.yaml", model_dir=model_dir, broker=broker, station=station,
                          source={"kind": "video", "path": str(video), "loop": True, "pacing": pacing, "fps": fps},
                          inspection={"profile": str(profile)}, dashboard=dashboard, **sections)
    cfg = load_config(config)
    daemon = Daemon(cfg, front_end=start_dashboard(cfg.dashboard))
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    thread.start()
    http = Http(f"http://127.0.0.1:{port}", token)
    assert wait_for(lambda: _up(http), 60.0), "the dashboard answers"
    return daemon, thread, http


def _up(http: Http) -> bool:
    try:
        return http.get("/api/state").status == 200
    except OSError:
        return False


def start_dashboard_process(tmp_path: Path, trained_model: Any, broker: Any, station: str, profile: Path, *,
                            n_frames: int = 16, fps: float = 4.0, dashboard: dict[str, Any] | None = None,
                            pacing: str = "realtime") -> tuple[DaemonProcess, Http]:
    """`edge-inspector run` as systemd starts it (a child process) with the dashboard on a free port; the
    looping line video is paced at `fps` (pacing "fastest": each frame waits for the scorer, none is dropped).
    The caller stops the process (DaemonProcess.stop)."""
    model_dir, category, size = trained_model
    video = tmp_path / "line.avi"
    render_line_video(video, category, n_frames=n_frames, defect_rate=0.5, size=size, seed=5)
    token = secrets.token_hex(16)
    token_file = tmp_path / "dashboard.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    port = free_port()
    section = {"enabled": True, "port": port, "token_file": str(token_file), "what_if_frames": n_frames,
               **(dashboard or {})}
    config = write_config(tmp_path / "config.yaml", model_dir=model_dir, broker=broker, station=station,
                          source={"kind": "video", "path": str(video), "loop": True, "pacing": pacing, "fps": fps},
                          inspection={"profile": str(profile)}, dashboard=section)
    daemon = DaemonProcess(config).start()
    http = Http(f"http://127.0.0.1:{port}", token)
    if not wait_for(lambda: not daemon.alive() or _up(http), 120.0) or not daemon.alive():
        out = daemon.output()[-3000:]
        daemon.stop()
        raise AssertionError(f"the dashboard did not come up:\n{out}")
    return daemon, http
