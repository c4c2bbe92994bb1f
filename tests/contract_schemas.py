"""Test helper: check an MQTT message against the contract's JSON Schemas in docs/schemas/.

Import it as `from contract_schemas import validate_message` from any test under tests/: pytest puts
tests/ on sys.path because tests/conftest.py lives there without an __init__.py ("prepend" import mode).
jsonschema is a dev dependency only; the daemon never imports this.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "docs" / "schemas"
# The topic's last level picks the schema: reject carries the same object as verdict.
SCHEMA_FOR_LEVEL = {"verdict": "verdict", "reject": "verdict", "status": "status", "stats": "stats",
                    "trigger": "trigger", "captured": "captured"}
# The command topics (mqtt.commands): requests on `.../command`, answers on `.../command/response`.
SCHEMA_FOR_COMMAND_TOPIC = {"command": "command-request", "command/response": "command-response"}

_formats = FormatChecker()


@_formats.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    """RFC 3339 date-time with an offset; registered here so the check never depends on optional packages."""
    if not isinstance(value, str):
        return True  # formats only constrain strings; the type keyword handles the rest
    parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return True


def schema_path(name: str) -> Path:
    """docs/schemas/{name}.schema.json for name in verdict, status, stats, captured, command-request,
    command-response."""
    return SCHEMA_DIR / f"{name}.schema.json"


@cache
def load_schema(name: str) -> dict[str, Any]:
    with schema_path(name).open(encoding="utf-8") as f:
        schema: dict[str, Any] = json.load(f)
    return schema


@cache
def validator(name: str) -> Draft202012Validator:
    """A draft 2020-12 validator for one schema, with date-time formats checked."""
    return Draft202012Validator(load_schema(name), format_checker=_formats)


# What the daemon itself publishes (docs/mqtt-contract.md): the rest (command requests, triggers) are inputs.
DAEMON_OUTPUT_LEVELS = ("verdict", "reject", "status", "stats", "captured")


def daemon_output_schema(topic: str) -> str | None:
    """The schema name of a topic the daemon publishes on, or None for inputs and foreign topics."""
    if topic.endswith("/command/response"):
        return SCHEMA_FOR_COMMAND_TOPIC["command/response"]
    level = topic.rsplit("/", 1)[-1]
    return SCHEMA_FOR_LEVEL[level] if level in DAEMON_OUTPUT_LEVELS else None


def validate_message(topic: str, payload: dict[str, Any]) -> None:
    """Raise AssertionError (listing every error with its JSON path) unless payload fits the topic's schema.

    The schema is chosen by the topic's last level: verdict and reject -> verdict, status, stats,
    command -> command-request, response (`.../command/response`) -> command-response.
    """
    level = topic.rsplit("/", 1)[-1]
    command = next((n for end, n in SCHEMA_FOR_COMMAND_TOPIC.items() if topic.endswith("/" + end)), None)
    if level not in SCHEMA_FOR_LEVEL and command is None:
        raise AssertionError(f"{topic}: no contract schema for topic level {level!r} (expected one of "
                             f"{sorted(SCHEMA_FOR_LEVEL)} or .../command, .../command/response)")
    name = command or SCHEMA_FOR_LEVEL[level]
    errors = sorted(validator(name).iter_errors(payload), key=lambda e: (e.json_path, e.message))
    if errors:
        lines = "\n".join(f"  {e.json_path}: {e.message}" for e in errors)
        raise AssertionError(f"{topic}: payload does not match {name}.schema.json:\n{lines}")
