"""The exception types that mean "the user gave bad input": the CLI prints them as one line, exit 2."""

from __future__ import annotations

import importlib


def _collect() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [FileNotFoundError]
    for module, name in (
        ("edge_inspector.config", "ConfigError"),
        ("edge_inspector.capture", "SourceError"),
        ("edge_inspector.backends", "BackendError"),
        ("edge_inspector.publish", "MqttConnectError"),
        ("edge_inspector.publish", "SpoolError"),
        ("edge_inspector.model.metadata", "MetadataError"),
        ("edge_inspector.broker", "BrokerUnavailable"),
        ("edge_inspector.export", "ExportError"),
        ("edge_inspector.calibration", "CalibrationError"),
        ("edge_inspector.dashboard", "DashboardError"),
        ("edge_inspector.publish.audit", "AuditError"),  # a state directory the service cannot write
        ("edge_inspector.config.secrets", "SecretError"),  # e.g. a --password-file readable by others
        ("edge_inspector.config.yaml_safe", "YamlFileError"),  # a binary, oversized or aliased YAML file
    ):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


USER_ERRORS: tuple[type[BaseException], ...] = _collect()
