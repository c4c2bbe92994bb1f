"""The pieces the dashboard pages repeated (a labelled field, a threshold slider, a verdict's facts list) come
from templates/macros.html once; every element a page script reads is still on its page, exactly once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import pytest

from edge_inspector.dashboard import server
from edge_inspector.dashboard.server import create_app

PAGES = {"/": ("index", "live"), "/rejects": ("rejects", "rejects"), "/threshold": ("threshold", "threshold"),
         "/inspect": ("inspect", "inspect")}
DIR = Path(server.__file__).parent


@pytest.fixture(scope="module")
def client() -> Any:
    return create_app(cast(Any, None), "t" * 32).test_client()  # the control is only read by API routes


@pytest.mark.parametrize("route", list(PAGES))
def test_every_element_a_page_script_reads_is_on_the_page_once(client: Any, route: str) -> None:
    template, script = PAGES[route]
    html = client.get(route, headers={"Host": "127.0.0.1"}).get_data(as_text=True)
    ids = set(re.findall(r'\$\("([\w-]+)"\)', (DIR / "static" / f"{script}.js").read_text()))
    assert ids
    for element in sorted(ids):
        assert html.count(f'id="{element}"') == 1, (route, element)
    for label in re.findall(r'<label for="([\w-]+)"', html):  # every label points at its input
        assert html.count(f'id="{label}"') == 1, (route, label)


def test_the_sliders_fields_and_facts_are_written_once() -> None:
    macros = (DIR / "templates" / "macros.html").read_text()
    for piece in ('<div class="slider-row">', '<dl class="facts">', '<div class="field">'):
        assert macros.count(piece) >= 1
        for template, _ in PAGES.values():
            assert piece not in (DIR / "templates" / f"{template}.html").read_text(), (template, piece)


def test_the_threshold_sliders_keep_their_number_boxes(client: Any) -> None:
    html = client.get("/threshold", headers={"Host": "127.0.0.1"}).get_data(as_text=True)
    for name in ("image-threshold", "pixel-threshold"):
        assert f'<input id="{name}" type="range" min="0" max="1" step="0.001">' in html
        assert f'aria-label="{name.replace("-", " ")} value"' in html
