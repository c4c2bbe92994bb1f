"""The four dashboard pages come from one Jinja base (issue 20): one <head>, one nav, and only their own block
differs. Served through the real Flask app (a page reads nothing from the daemon, so no daemon is started)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import pytest
from flask import render_template_string

from edge_inspector.dashboard import server
from edge_inspector.dashboard.server import create_app

PAGES = {"/": ("Live", "live", "live"), "/rejects": ("Rejects", "rejects", "rejects"),
         "/threshold": ("Threshold", "threshold", "threshold"), "/inspect": ("Inspect", "inspect", "inspect")}
NAV = ('<nav class="nav" aria-label="pages">\n      <a href="/">Live</a><a href="/rejects">Rejects</a>'
       '<a href="/threshold">Threshold</a><a href="/inspect">Inspect</a>\n    </nav>')
BANNER = '<div id="error" class="error-banner" role="alert" aria-live="polite"></div>\n'
TEMPLATES = Path(server.__file__).with_name("templates")


@pytest.fixture(scope="module")
def pages() -> dict[str, Any]:
    app = create_app(cast(Any, None), "t" * 32)  # the control is only read by API routes
    client = app.test_client()
    return {route: client.get(route, headers={"Host": "127.0.0.1"}) for route in PAGES}


@pytest.mark.parametrize("route", list(PAGES))
def test_each_page_has_one_head_and_the_shared_nav(pages: dict[str, Any], route: str) -> None:
    answer = pages[route]
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    assert answer.headers["X-Content-Type-Options"] == "nosniff" and answer.headers["X-Frame-Options"] == "DENY"
    html = answer.get_data(as_text=True)
    title, body_class, script = PAGES[route]
    assert html.startswith("<!DOCTYPE html>\n") and html.count("<head>") == 1 and html.count("</head>") == 1
    assert html.count(NAV) == 1 and html.count("<nav") == 1
    for link in ('href="/"', 'href="/rejects"', 'href="/threshold"', 'href="/inspect"'):
        assert html.count(link) == 1
    assert f"<title>{title} · edge-inspector</title>" in html
    assert f'<body class="page-{body_class}">' in html
    assert f'<script src="/static/{script}.js" defer></script>' in html
    assert html.count('<script src="/static/common.js" defer></script>') == 1
    assert html.count(BANNER) == 1 and html.rstrip().endswith("</body>\n</html>")
    assert "{%" not in html and "{{" not in html and "{#" not in html  # nothing left unrendered


def test_the_pages_differ_only_in_their_block(pages: dict[str, Any]) -> None:
    frames = set()
    for route, (title, body_class, script) in PAGES.items():
        html = pages[route].get_data(as_text=True)
        head, _, rest = html.partition(BANNER)
        content, _, tail = rest.rpartition("</body>")
        assert content.strip().startswith("<main") and tail == "\n</html>\n"
        frames.add(head.replace(f"<title>{title} ", "<title>T ").replace(f'"page-{body_class}"', '"page-P"')
                   .replace(f"/static/{script}.js", "/static/S.js"))
    assert len(frames) == 1  # the same head, nav and banner around every page


def test_every_page_extends_the_one_base_and_repeats_none_of_it() -> None:
    for name in ("index", "rejects", "threshold", "inspect"):
        text = (TEMPLATES / f"{name}.html").read_text()
        assert text.startswith('{% extends "base.html" %}')
        assert not re.search(r"<head|<nav|<html|<body|error-banner", text)
    assert (TEMPLATES / "base.html").read_text().count("<nav") == 1
    static = Path(server.__file__).with_name("static")
    assert not list(static.glob("*.html"))  # no stale raw copy served under /static


def test_the_templates_are_autoescaped() -> None:
    app = create_app(cast(Any, None), "t" * 32)
    assert all(app.select_jinja_autoescape(f"{name}.html") for name in ("base", "index", "rejects"))
    with app.test_request_context():
        assert render_template_string("{{ v }}", v="<script>") == "&lt;script&gt;"
