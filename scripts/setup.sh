#!/usr/bin/env bash
# Set up a development/demo environment on Debian/Ubuntu with Python 3.11:
# Mosquitto (for the demo and the integration tests) and a virtualenv in .venv with the package.
# Usage: scripts/setup.sh [EXTRAS]   (default extras: train,dev)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-train,dev}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
    echo "== installing mosquitto (apt)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mosquitto python3-venv >/dev/null
fi
if [[ ",$extras," == *",dev,"* ]] && ! command -v chromium >/dev/null; then
    echo "== installing chromium (apt) for the dashboard's browser tests"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv"
    python3 -m venv .venv
fi
. .venv/bin/activate
echo "== installing torch (pinned) and edge-inspector[$extras]"
pip install -q torch==2.14.1 torchvision==0.29.1
pip install -q -e ".[$extras]"
