"""The web dashboard: live view, rejects, threshold panel with what-if, inspect page (docs/dashboard.md).

`edge-inspector run` starts it beside the daemon (dashboard.enabled) and hands it the daemon's control;
it changes settings only through the command processor, like the MQTT command topic.
"""

from .runner import DashboardError, read_token, start_dashboard

__all__ = ["DashboardError", "read_token", "start_dashboard"]
