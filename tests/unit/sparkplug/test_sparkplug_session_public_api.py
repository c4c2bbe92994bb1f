"""The edge node's MQTT session uses paho's public API only (issue 22): no private attribute of a paho client
(`client._out_messages` and the like) is read or written anywhere in the Sparkplug wing, so a paho upgrade
cannot silently change what is sent after a reconnect. The behaviour itself (no message of a dead session
before or after the new NBIRTH) is tested with a real broker in
tests/integration/test_sparkplug_edge_node.py::test_unacknowledged_data_of_a_lost_session_never_precede_the_new_birth.
"""

from __future__ import annotations

import ast
from pathlib import Path

import edge_inspector.sparkplug as wing

PAHO_NAMES = {"client", "self.client", "c", "old", "mqtt_client"}


def _private_attributes(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = ast.unparse(node.value)
            if owner in PAHO_NAMES or owner.endswith(".client"):
                found.append(f"{owner}.{node.attr} (line {node.lineno})")
    return found


def test_no_private_paho_attribute_in_the_sparkplug_wing() -> None:
    files = sorted(Path(wing.__file__).parent.glob("*.py"))
    assert files
    found = {f.name: _private_attributes(ast.parse(f.read_text(encoding="utf-8"))) for f in files}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_the_check_finds_what_the_old_session_did() -> None:
    old = "def f(client):\n    with client._out_message_mutex:\n        client._out_messages.clear()\n"
    assert len(_private_attributes(ast.parse(old))) == 2
