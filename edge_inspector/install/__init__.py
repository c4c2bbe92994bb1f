"""Install and remove the daemon as a systemd service (`edge-inspector install-service`, docs/deploy.md)."""

from .layout import InstallError, Layout
from .remove import uninstall
from .steps import InstallOptions, install

__all__ = ["InstallError", "InstallOptions", "Layout", "install", "uninstall"]
