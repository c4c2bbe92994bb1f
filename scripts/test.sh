#!/usr/bin/env bash
# Set everything up and run the checks CI runs: ruff, mypy, then the test suite
# (unit + integration with a real Mosquitto broker; slow/GPU/data tests skip with a reason).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh train,dev
# pysparkplug: the independent Sparkplug B decoder of the Sparkplug tests (Eclipse Tahu's generated protobuf
# classes). It asks for paho-mqtt<2, which the daemon cannot use; its decoding needs only protobuf, so it is
# installed without its dependencies (it cannot be in setup.py's extras: pip refuses the conflict)
.venv/bin/pip install -q --no-deps -c constraints.txt pysparkplug==0.6.1
. .venv/bin/activate
ruff check edge_inspector tests
mypy edge_inspector
python -m pytest -ra "$@"
