"""The `sparkplug` config section: defaults, strict types, ids that are topic levels, bounds, the client id, and
the outbox path resolved like the other state files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_inspector.config import load_config
from edge_inspector.config.loader import ConfigError


def _load(tmp_path: Path, sparkplug: dict[str, Any] | None, **extra: Any) -> Any:
    doc: dict[str, Any] = {"station_id": "line1", "model": {"path": "model"},
                           "source": {"kind": "video", "path": "v.avi"}, **extra}
    if sparkplug is not None:
        doc["sparkplug"] = sparkplug
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_config(path)


def test_defaults_off_and_outbox_beside_the_spool(tmp_path: Path) -> None:
    cfg = _load(tmp_path, None)
    sp = cfg.sparkplug
    assert sp.enabled is False and sp.group_id == "edge-inspector" and sp.device_id == "inspection"
    assert sp.edge_node_id is None and sp.primary_host_id is None
    assert sp.spool_path == cfg.output.dir / "sparkplug-spool.sqlite"


def test_a_full_section(tmp_path: Path) -> None:
    cfg = _load(tmp_path, {"enabled": True, "group_id": "Plant1", "edge_node_id": "line1", "device_id": "cam",
                           "primary_host_id": "IgnitionSCADA", "spool_path": "spb/out.sqlite", "max_inflight": 10,
                           "max_message_bytes": 1000, "max_entries": 5, "max_age_hours": 1})
    sp = cfg.sparkplug
    assert (sp.group_id, sp.primary_host_id, sp.max_inflight) == ("Plant1", "IgnitionSCADA", 10)
    assert sp.spool_path == tmp_path / "spb" / "out.sqlite"  # relative to the config file


@pytest.mark.parametrize(("section", "key"), [
    ({"group_id": "a/b"}, "sparkplug.group_id"),
    ({"edge_node_id": "x+"}, "sparkplug.edge_node_id"),
    ({"device_id": "#"}, "sparkplug.device_id"),
    ({"primary_host_id": ""}, "sparkplug.primary_host_id"),
    ({"group_id": "g" * 129}, "sparkplug.group_id"),
    ({"group_id": "tab\there"}, "sparkplug.group_id"),
    ({"max_inflight": 0}, "sparkplug.max_inflight"),
    ({"max_inflight": 70000}, "sparkplug.max_inflight"),
    ({"max_message_bytes": 0}, "sparkplug.max_message_bytes"),
    ({"max_message_bytes": 2**30}, "sparkplug.max_message_bytes"),
    ({"max_age_hours": 0}, "sparkplug.max_age_hours"),
    ({"max_entries": 0}, "sparkplug.max_entries"),
    ({"enabled": "yes"}, "sparkplug.enabled"),
    ({"group": "typo"}, "sparkplug.group"),
    ({"enabled": True, "client_id": "edge-inspector-line1"}, "sparkplug.client_id"),
])
def test_bad_values_name_the_key(tmp_path: Path, section: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as info:
        _load(tmp_path, section)
    assert "\n" not in str(info.value) and len(str(info.value)) < 600


def test_a_huge_id_is_not_echoed_whole(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, {"group_id": "x/" * 100000})
    assert len(str(info.value)) < 600
