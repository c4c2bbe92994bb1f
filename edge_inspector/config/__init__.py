"""Typed configuration: models and the YAML loader."""

from .loader import ConfigError, load_config, parse_config
from .models import (
    Config,
    InspectionConfig,
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
    "InspectionConfig",
    "ModelConfig",
    "MorphologyConfig",
    "MqttConfig",
    "OutputConfig",
    "SourceConfig",
    "SpoolConfig",
    "load_config",
    "parse_config",
]
