#!/usr/bin/env bash
# Set everything up and run the offline end-to-end demo (extra arguments go to `edge-inspector demo`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh train
. .venv/bin/activate
edge-inspector demo "$@"
