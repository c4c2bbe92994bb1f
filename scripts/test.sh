#!/usr/bin/env bash
# Set everything up and run the checks CI runs: ruff, mypy, then the test suite
# (unit + integration with a real Mosquitto broker; slow/GPU/data tests skip with a reason).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh train,dev
. .venv/bin/activate
ruff check edge_inspector tests
mypy edge_inspector
python -m pytest -ra "$@"
