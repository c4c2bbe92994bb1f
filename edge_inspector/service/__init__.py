"""The running daemon: wiring of the stages (daemon), isolated sinks, systemd notify, bounded statistics."""
