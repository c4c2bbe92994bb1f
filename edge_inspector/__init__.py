"""edge-inspector: real-time visual inspection daemon for production lines."""

__version__ = "0.1.0"
