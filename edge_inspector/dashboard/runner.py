"""Start the dashboard beside the daemon: read the token, bind the port, serve on waitress threads."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from ..config import DashboardConfig
from ..config.secrets import SecretError, read_secret
from ..errors import UserError
from ..service.control import DaemonControl

log = logging.getLogger(__name__)
MIN_TOKEN = 16  # characters: a token a person could guess is no protection


class DashboardError(UserError, ValueError):
    """The dashboard cannot start (token file, port); one line naming the key or file."""


def read_token(path: Path | None) -> str:
    """The token in `path` (surrounding whitespace stripped); DashboardError names the file."""
    if path is None:
        raise DashboardError("dashboard.token_file: required when the dashboard is enabled")
    try:  # the rule of every secret file (config/secrets.read_secret): private, bounded, one line
        token = read_secret(path, "dashboard.token_file")
    except SecretError as exc:
        raise DashboardError(str(exc)) from None
    if len(token) < MIN_TOKEN or any(c.isspace() for c in token):
        raise DashboardError(f"dashboard.token_file {path}: expected one token of at least {MIN_TOKEN} characters "
                             "without spaces (e.g. `openssl rand -hex 24`)")
    return token


def start_dashboard(cfg: DashboardConfig) -> Callable[[DaemonControl], Callable[[], None]]:
    """The daemon's front-end hook: given the control, serve the dashboard and return its stop function."""

    def start(control: DaemonControl) -> Callable[[], None]:
        try:
            from waitress.server import create_server
        except ImportError:
            raise DashboardError("dashboard.enabled: the dashboard needs Flask and waitress: "
                                 "pip install 'edge-inspector[dashboard]'") from None
        from .server import create_app

        app = create_app(control, read_token(cfg.token_file), cfg)
        try:
            # waitress' own limits too: a body beyond the upload cap is never buffered (its default is 1 GB)
            server = create_server(app, host=cfg.host, port=cfg.port, threads=cfg.threads, ident="edge-inspector",
                                   channel_timeout=30, clear_untrusted_proxy_headers=True,
                                   # waitress reads a body whole (spooled to disk past 512 KB) before the app
                                   # sees it: up to 4x the upload limit the client gets Flask's JSON 413, past
                                   # that waitress cuts the connection mid-upload
                                   max_request_body_size=4 * int(cfg.max_upload_mb * 2**20) + 65536,
                                   max_request_header_size=65536)
        except OSError as exc:
            raise DashboardError(f"dashboard.port: cannot listen on {cfg.host}:{cfg.port} ({exc})") from None
        thread = threading.Thread(target=server.run, name="dashboard", daemon=True)
        thread.start()
        # waitress gives effective_port as a string (getnameinfo): %s, never %d
        log.info("dashboard on http://%s:%s/ (POST requests need the token in %s)", cfg.host,
                 server.effective_port, cfg.token_file)  # type: ignore[union-attr]

        def stop() -> None:
            # waitress' loop ends when its socket map is empty: close the listener and every open channel
            for dispatcher in list(server._map.values()):  # type: ignore[union-attr]
                with contextlib.suppress(OSError):
                    dispatcher.close()
            server.task_dispatcher.shutdown(timeout=2)  # type: ignore[union-attr]
            thread.join(timeout=2.0)

        return stop

    return start
