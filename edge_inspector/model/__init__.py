"""Models: the kinds' registry, metadata and preprocessing (no torch), networks and checkpoints (torch).

Nothing is imported here: `--help` and the kinds' registry (model/kinds.py) must load without numpy or torch.
"""
