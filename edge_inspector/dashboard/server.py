"""The dashboard's Flask app: four pages (templates/, each extending base.html) and the JSON API of
docs/dashboard.md (docs/dashboard-openapi.json).

Everything goes through the daemon's DaemonControl; settings change only through its command processor,
the same way as the MQTT command topic, and nothing a reader asks for runs on the inspection thread (an
upload is judged between two frames, one at a time). Every request passes the doors first (doors.py): the
Host check, a per-client rate limit on the API, and the token: every POST needs the bearer token, and when
the dashboard is reachable from the network (bound beyond loopback or behind a TLS proxy) every API read
needs it too (or the session cookie that POST /api/login sets). Every error is JSON {"error": one line}
with a 4xx status, and no request can stop the daemon.
"""

from __future__ import annotations

import hmac
from pathlib import Path

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from ..config import DashboardConfig
from ..service.between_frames import Busy, Expired
from ..service.control import DaemonControl
from .doors import SESSION_COOKIE, RateLimiter, allowed_hosts, host_name, is_loopback, session_value
from .label_routes import add_label_routes
from .reads import add_reads
from .writes import add_writes

STATIC = Path(__file__).with_name("static")
TEMPLATES = Path(__file__).with_name("templates")  # Jinja, autoescaped (.html): one base, one page each
OPENAPI = STATIC / "openapi.json"  # the one OpenAPI document: served, and copied to docs/dashboard-openapi.json
PAGES = {"/": "index.html", "/rejects": "rejects.html", "/threshold": "threshold.html", "/inspect": "inspect.html"}
COST = {"/api/history": 5, "/api/what-if": 5, "/api/verdicts.csv": 10, "/api/inspect": 10}  # rate-limit tokens
OPEN_API_PATHS = ("/api/openapi.json",)  # API paths readable without the token (no data in them)
MAX_QUERY = 2048  # characters of query string; a longer one is refused before any route reads it


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The JSON error answer: {"error": one line} (capped) with `status`."""
    response = jsonify(error=message[:500])
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def create_app(control: DaemonControl, token: str, cfg: DashboardConfig | None = None) -> Flask:
    """The WSGI app for one running daemon (cfg: the dashboard section; defaults when None)."""
    cfg = cfg or DashboardConfig()
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static", template_folder=str(TEMPLATES))
    max_upload_bytes = int(cfg.max_upload_mb * 1024 * 1024)
    app.config["MAX_CONTENT_LENGTH"] = max_upload_bytes
    expected = f"Bearer {token}".encode()
    session = session_value(token).encode()
    hosts = allowed_hosts(cfg.host, cfg.allowed_hosts)
    reads_need_token = cfg.tls_proxy or not is_loopback(cfg.host)
    limiter = RateLimiter(cfg.requests_per_s, cfg.request_burst)

    def bearer() -> bool:
        return hmac.compare_digest(request.headers.get("Authorization", "").encode()[:512], expected)

    def has_session() -> bool:
        return hmac.compare_digest(request.cookies.get(SESSION_COOKIE, "").encode()[:128], session)

    @app.before_request
    def doors() -> Response | None:
        name = host_name(request.headers.get("Host", ""))
        if name not in hosts:
            return error(421, f"Host: {name[:80]!r} is not in dashboard.allowed_hosts ({', '.join(sorted(hosts))})")
        if len(request.query_string) > MAX_QUERY:
            return error(414, f"query string: longer than {MAX_QUERY} characters")
        api = request.path.startswith("/api/")
        if api:
            wait = limiter.take(request.remote_addr or "?", COST.get(request.path, 1))
            if wait > 0:
                return error(429, f"too many requests from {request.remote_addr}: try again in {wait:.1f} s "
                                  "(dashboard.requests_per_s)", {"Retry-After": RateLimiter.retry_after(wait)})
        if request.method == "POST" and not bearer():
            return error(401, "Authorization: expected 'Bearer <token>' with the dashboard token "
                              "(dashboard.token_file on the line device)")
        if api and reads_need_token and request.path not in OPEN_API_PATHS and not (bearer() or has_session()):
            return error(401, "this dashboard is reachable from the network: log in (POST /api/login with "
                              "'Authorization: Bearer <token>') or send the bearer token")
        return None

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code == 413:
            return error(413, f"upload: larger than dashboard.max_upload_mb ({max_upload_bytes / 2**20:g} MB)")
        return error(exc.code or 500, f"{request.method} {request.path[:200]}: {exc.name}")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        if isinstance(exc, Busy):
            return error(429, str(exc), {"Retry-After": "1"})
        if isinstance(exc, Expired):
            return error(504, str(exc))
        app.logger.exception("dashboard request %s %s failed", request.method, request.path[:200])
        return error(500, f"{request.method} {request.path[:200]}: internal error ({type(exc).__name__}); see the log")

    for route, page in PAGES.items():
        app.add_url_rule(route, page, lambda page=page: render_template(page))

    @app.get("/api/openapi.json")
    def openapi() -> Response:
        return Response(OPENAPI.read_bytes(), mimetype="application/json")

    @app.post("/api/login")
    def login() -> Response:
        response = jsonify(ok=True)
        response.set_cookie(SESSION_COOKIE, session.decode(), httponly=True, samesite="Strict",
                            secure=cfg.tls_proxy, path="/")
        return response

    add_reads(app, control, error)
    add_writes(app, control, error, cfg.max_upload_megapixels)
    add_label_routes(app, control, error, cfg)

    @app.after_request
    def no_sniff(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    return app
