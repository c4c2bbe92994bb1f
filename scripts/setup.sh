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
if [[ ",$extras," == *",dev,"* ]] && ! command -v systemd-analyze >/dev/null; then
    echo "== installing systemd (apt) for systemd-analyze in the install-service tests"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq systemd >/dev/null
fi
if [[ ",$extras," == *",dev,"* ]] && ! command -v arv-fake-gv-camera-0.8 >/dev/null; then
    # Aravis for source.kind genicam (the venv loads Debian's python3-gi: edge_inspector/capture/genicam_gi.py)
    # and its simulated GigE Vision camera (aravis-tools) for tests/integration/test_genicam_source.py
    echo "== installing Aravis (apt) for the GenICam camera tests"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq gir1.2-aravis-0.8 python3-gi aravis-tools \
        aravis-tools-cli >/dev/null
fi
if [[ ",$extras," == *",dev,"* ]] && ! command -v npm >/dev/null; then
    echo "== installing nodejs and npm (apt) for the node-opcua client of the OPC UA tests"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
if [[ ",$extras," == *",dev,"* ]] && [ ! tests/opcua_node/node_modules/.package-lock.json -nt tests/opcua_node/package-lock.json ]; then
    # node-opcua-client (about 35 MB), pinned by the lock file: tests/integration/test_opcua_node_client.py
    echo "== installing node-opcua-client (npm ci) in tests/opcua_node"
    (cd tests/opcua_node && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
fi
if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv"
    python3 -m venv .venv
fi
. .venv/bin/activate
echo "== installing torch and edge-inspector[$extras], pinned by constraints.txt (what CI tested)"
# No pip cache: where the local wheel mirror is missing, torch comes from PyPI as a CUDA build of several GB,
# and a cached copy of every download beside the installed venv once filled a CI machine's disk (ENOSPC).
export PIP_NO_CACHE_DIR=1
echo "   (disk free for the venv: $(df -h . | awk 'NR==2 {print $4}'))"
pip install -q -c constraints.txt torch==2.14.1 torchvision==0.29.1
pip install -q -c constraints.txt -e ".[$extras]"
