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
    "load_config",
    "parse_config",
]
