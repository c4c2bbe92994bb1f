"""edge-inspector: real-time visual anomaly inspection daemon for production lines."""

from pathlib import Path

from setuptools import find_packages, setup

RUNTIME = [
    "numpy>=1.24",
    "opencv-python-headless>=4.8",
    "paho-mqtt>=2.0,<3",
    "pyyaml>=6.0",
    "prometheus-client>=0.20",  # metrics.enabled: /metrics and /healthz (small, pure Python, no dependencies)
]
# The ONNX Runtime backend (the torch-free runtime); onnx is needed by int8 quantisation and checks.
ONNX = ["onnx>=1.15", "onnxruntime>=1.17"]
# Training also exports (torch.onnx's exporter needs onnxscript) and checks the export with ONNX Runtime.
# scikit-learn fits the classical kinds (ocsvm, iforest, lof); their model dirs and exports need none of it.
TRAIN = ["torch>=2.2", "torchvision>=0.17", "matplotlib>=3.7", "onnxscript>=0.2", "scikit-learn>=1.3", *ONNX]
# TensorRT 11 dropped the FP16/INT8 builder flags and the calibrators this builder uses.
TRT = ["tensorrt>=10.0,<11", "pycuda>=2024.1"]
# The web dashboard (docs/dashboard.md): Flask on waitress, a production WSGI server in pure Python.
DASHBOARD = ["flask>=3.0", "waitress>=3.0"]
# The OPC UA server (`edge-inspector opcua-server`, docs/deploy.md): asyncua, pure Python over cryptography.
OPCUA = ["asyncua>=1.1,<3"]
# The reject bridge's Modbus TCP output (`edge-inspector reject-bridge`, docs/deploy.md): pymodbus, pure Python,
# no dependencies; its device_id argument and the SimDevice server the simulator uses are 3.16's API. Its GPIO
# output: gpiod, libgpiod's own 2.x bindings (a 115 kB wheel with libgpiod inside, x86_64 and aarch64; elsewhere
# a 2 s build with a C compiler). Not Debian 12's python3-libgpiod: that is the 1.x API.
BRIDGE = ["pymodbus>=3.16,<4", "gpiod>=2.1,<3"]
# The Sparkplug tests' independent decoder, pysparkplug, is not listed here: it requires paho-mqtt<2 (pip refuses
# the conflict), so scripts/test.sh installs it with --no-deps (pinned in constraints.txt).
# playwright drives the system Chromium (apt chromium) in the browser tests; it downloads no browser here.
# The tests run the OPC UA server and the reject bridge for real, so dev includes their extras.
DEV = [*DASHBOARD, *OPCUA, *BRIDGE, "playwright>=1.45", "pytest>=8", "ruff>=0.5", "mypy>=1.10", "types-PyYAML", "scikit-learn>=1.3", "jsonschema>=4.18", "psutil>=5.9", "hypothesis>=6.100"]

setup(
    name="edge-inspector",
    version="0.1.0",
    description="Real-time visual anomaly inspection daemon: camera -> ResNet-50 autoencoder -> verdict over MQTT",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["edge_inspector", "edge_inspector.*"]),
    package_data={"edge_inspector.dashboard": ["static/*", "templates/*"]},
    install_requires=RUNTIME,
    extras_require={
        # The torch backend scores with the PyTorch model; training always needs it.
        "torch": ["torch>=2.2", "torchvision>=0.17"],
        "train": TRAIN,
        "onnx": ONNX,
        "trt": TRT,
        "dashboard": DASHBOARD,
        "opcua": OPCUA,
        "bridge": BRIDGE,
        "dev": DEV,
        "all": TRAIN + DEV,
    },
    entry_points={"console_scripts": ["edge-inspector=edge_inspector.cli:main"]},
)
