"""dashboard.labels_dir and dashboard.defect_types: checked when the config loads (one line naming the key), the
label route refuses with 409 while labelling is off, and no name the rule accepts can leave its folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("flask")

from edge_inspector.config import ConfigError, DashboardConfig, load_config  # noqa: E402 - after the skip
from edge_inspector.config.label_names import name_problem  # noqa: E402
from edge_inspector.dashboard.server import create_app  # noqa: E402

TOKEN = "t" * 32


def write_config(tmp_path: Path, dashboard: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"station_id": "line1", "source": {"kind": "video", "path": "a.avi"},
                                    "model": {"path": "m"}, "dashboard": dashboard}))
    return path


def test_labels_dir_is_off_by_default_and_relative_to_the_config(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path, {})).dashboard.labels_dir is None
    cfg = load_config(write_config(tmp_path, {"labels_dir": "labels", "defect_types": ["crack", "missing part"]}))
    assert cfg.dashboard.labels_dir == tmp_path / "labels"
    assert cfg.dashboard.defect_types == ["crack", "missing part"]


@pytest.mark.parametrize("names, index", [
    (["../x"], 0), (["a/b"], 0), ([".."], 0), (["x\x00"], 0), ([""], 0), (["x" * 65], 0), (["crack", "good"], 1),
    (["crack", "Crack"], 1), ([" crack"], 0), (["crack."], 0), ([7], 0)])
def test_a_bad_suggested_type_is_refused_with_one_line_naming_it(tmp_path: Path, names: list[Any], index: int) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, {"defect_types": names}))
    message = str(info.value)
    assert f"dashboard.defect_types[{index}]" in message and "\n" not in message and len(message) < 600


def test_too_many_suggested_types_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="dashboard.defect_types: expected at most 64 names, got 65"):
        load_config(write_config(tmp_path, {"defect_types": [f"t{i}" for i in range(65)]}))


def test_labelling_off_answers_409_with_one_line_and_needs_the_token_first() -> None:
    client = create_app(cast(Any, None), TOKEN, DashboardConfig()).test_client()
    body = {"defect_type": "crack", "author": "bo"}
    assert client.post("/api/rejects/3/label", json=body).status_code == 401
    answer = client.post("/api/rejects/3/label", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 409
    assert "dashboard.labels_dir" in answer.get_json()["error"] and "\n" not in answer.get_json()["error"]
    big = client.post("/api/rejects/3/label", data=b"{" + b" " * 5000 + b"}",
                      headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    assert big.status_code == 413


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_an_accepted_name_is_one_plain_folder_name(name: str) -> None:
    if name_problem(name) is None:
        assert 1 <= len(name) <= 64 and name.isascii() and name.isprintable()
        assert "/" not in name and "\\" not in name and not name.startswith(".") and name.strip() == name
        assert Path(name).name == name and name not in (".", "..")
    else:
        assert "\n" not in name_problem(name) and len(name_problem(name) or "") < 400  # type: ignore[operator]
