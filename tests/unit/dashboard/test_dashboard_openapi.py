"""The dashboard's OpenAPI document: one source (the package file), served as is, copied to docs/, and
naming exactly the routes the Flask app has."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, cast

import pytest

pytest.importorskip("flask")

from edge_inspector.dashboard.server import OPENAPI, create_app  # noqa: E402 - after the skip

DOCS = Path(__file__).resolve().parents[3] / "docs" / "dashboard-openapi.json"


def app_routes() -> dict[str, set[str]]:
    """OpenAPI path -> methods of every rule of the app ('<int:seq>' -> '{seq}', '<path:filename>' -> ...)."""
    app = create_app(cast(Any, None), "t" * 16)
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        routes.setdefault(path, set()).update(m.lower() for m in (rule.methods or ()) if m not in ("HEAD", "OPTIONS"))
    return routes


def test_the_docs_copy_is_the_served_document() -> None:
    assert DOCS.read_bytes() == OPENAPI.read_bytes(), \
        "docs/dashboard-openapi.json differs from edge_inspector/dashboard/static/openapi.json: copy it over"
    app = create_app(cast(Any, None), "t" * 16)
    served = app.test_client().get("/api/openapi.json")
    assert served.status_code == 200 and served.get_json() == json.loads(OPENAPI.read_text())


def test_every_route_is_described_and_every_description_is_a_route() -> None:
    doc = json.loads(OPENAPI.read_text())
    assert doc["openapi"].startswith("3.1")
    described = {path: set(ops) for path, ops in doc["paths"].items()}
    assert described == app_routes()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op.get("summary") and op.get("responses"), f"{method} {path}"
            for param in op.get("parameters", []):
                assert param["in"] in ("query", "path") and "schema" in param, f"{method} {path} {param}"
                if param["in"] == "path":
                    assert "{" + param["name"] + "}" in path


def test_the_document_points_only_to_components_it_has() -> None:
    text = OPENAPI.read_text()
    doc = json.loads(text)
    for ref in set(re.findall(r'"\$ref": "#/([^"]+)"', text)):
        node: Any = doc
        for part in ref.split("/"):
            node = node[part]
        assert isinstance(node, dict)
