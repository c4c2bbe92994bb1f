"""Typed configuration: models and the YAML loader."""

from .loader import ConfigError, load_config, parse_config
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
)

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
    "load_config",
    "parse_config",
]
