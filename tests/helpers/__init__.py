"""Real stand-ins for test peers (an MJPEG-over-HTTP camera), run as separate processes."""
