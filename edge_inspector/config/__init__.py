"""Typed configuration: models and the YAML loader."""

from .loader import ConfigError, load_config
from .models import (
    Config,
    DashboardConfig,
    GenICamConfig,
    InspectionConfig,
    MetricsConfig,
    ModelConfig,
    MorphologyConfig,
    MqttConfig,
    OutputConfig,
    SourceConfig,
    SpoolConfig,
    TriggerConfig,
)
from .typed_build import parse_config

__all__ = [
    "Config",
    "ConfigError",
    "DashboardConfig",
    "GenICamConfig",
    "InspectionConfig",
    "MetricsConfig",
    "ModelConfig",
    "MorphologyConfig",
    "MqttConfig",
    "OutputConfig",
    "SourceConfig",
    "SpoolConfig",
    "TriggerConfig",
    "load_config",
    "parse_config",
]
