"""Command line: `edge-inspector VERB ...`, one module per verb; main.py builds the parser.

Verb modules import their heavy dependencies inside the command function, so `--help` stays light.
"""

from .main import main

__all__ = ["main"]
