"""The demo's stages (`edge-inspector demo`; its parser is cli/demo.py): the whole product, offline, in minutes.

synthetic parts -> train a compact ResNet-50 autoencoder on CPU -> calibrate on held-out good parts ->
run the real daemon on a line video -> verdicts through a real Mosquitto broker to a PLC-like subscriber
-> summary with detection precision/recall against the synthetic ground truth.
"""

from __future__ import annotations

import argparse
import logging
import time
from contextlib import ExitStack
from pathlib import Path

import yaml

from ..config import load_config
from ..evaluation.progress import ProgressBar
from ..publish.broker import LocalBroker
from ..publish.verdict_subscriber import VerdictSubscriber, format_verdict
from ..service.daemon import Daemon, RunSummary
from ..synth import generate_dataset, load_truth, render_line_video

log = logging.getLogger(__name__)


def run_demo(args: argparse.Namespace) -> int:
    """Run every stage, print verdicts as they arrive over MQTT, end with a readable summary."""
    work: Path = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    _step(1, f"synthetic '{args.category}' parts in MVTec layout -> {work / 'data'}")
    bar = ProgressBar("synth")
    data = generate_dataset(work / "data", args.category, n_train=args.train_images, n_test_good=10,
                            n_test_defect_per_type=4, size=args.size, seed=args.seed, progress=bar.update)
    bar.close()
    print(f"  {data}")
    video = work / "line.avi"
    render_line_video(video, args.category, n_frames=args.frames, defect_rate=0.3, size=args.size,
                      seed=args.seed + 1000)
    truth = {t.index: t for t in load_truth(video)}
    print(f"  line video {video}: {len(truth)} parts, {sum(t.defective for t in truth.values())} defective")

    model_dir = work / "model"
    _step(2, f"training on {args.train_images} good parts (CPU, at most {args.max_minutes:g} min) -> {model_dir}")
    from ..training.api import train_demo_model

    result = train_demo_model(data.root, model_dir, size=args.size, max_minutes=args.max_minutes, seed=args.seed)
    print(result.summary())

    with ExitStack() as stack:
        if args.broker:
            host, _, port = args.broker.partition(":")
            broker_host, broker_port = host, int(port or 1883)
        else:
            broker = stack.enter_context(LocalBroker(workdir=work / "broker"))
            broker_host, broker_port = broker.host, broker.port
        _step(3, f"daemon on the line video, verdicts via MQTT {broker_host}:{broker_port}")
        config_path = _write_config(work, video, model_dir, broker_host, broker_port)
        cfg = load_config(config_path)
        topic = f"{cfg.mqtt.topic_prefix}/{cfg.station_id}/verdict"
        plc = VerdictSubscriber(broker_host, broker_port, topic,
                                on_message=lambda _t, p: print(format_verdict(p), flush=True)).start()
        stack.callback(plc.stop)
        summary = Daemon(cfg).run()
        received = plc.wait_for(summary.frames, timeout=10.0)
    _print_summary(summary, received, truth, cfg, config_path, time.monotonic() - t_start)
    return 0


def _step(n: int, text: str) -> None:
    print(f"\n== step {n}/3: {text}", flush=True)


def _write_config(work: Path, video: Path, model_dir: Path, host: str, port: int) -> Path:
    config = {
        "station_id": "demo-line",
        "source": {"kind": "video", "path": str(video), "pacing": "fastest", "queue_size": 4},
        "model": {"path": str(model_dir), "backend": "torch", "device": "auto"},
        "inspection": {"threshold": "auto", "pixel_threshold": "auto", "min_defect_area": 12},
        "mqtt": {"host": host, "port": port, "topic_prefix": "edge-inspector"},
        "output": {"dir": str(work / "output"), "annotated_video": str(work / "output" / "annotated.avi")},
    }
    path = work / "demo.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _print_summary(summary: RunSummary, received: list[tuple[str, dict[str, object]]], truth: dict,  # type: ignore[type-arg]
                   cfg: object, config_path: Path, seconds: float) -> None:
    tp = fp = fn = tn = 0
    for _topic, payload in received:
        t = truth.get(payload.get("source_index"))
        if t is None:
            continue
        rejected = payload.get("verdict") in ("FAIL", "FAULT")
        tp += rejected and t.defective
        fp += rejected and not t.defective
        fn += (not rejected) and t.defective
        tn += (not rejected) and not t.defective
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    out = cfg.output  # type: ignore[attr-defined]
    print("\n== summary")
    for line in summary.lines():
        print(f"  {line}")
    print(f"  verdicts received by the PLC subscriber: {len(received)} of {summary.frames} frames")
    print(f"  detection vs ground truth: precision {precision:.2f}, recall {recall:.2f} "
          f"(TP {tp}, FP {fp}, FN {fn}, TN {tn}; FAIL and FAULT count as rejects)")
    print(f"  config {config_path}")
    print(f"  annotated video {out.annotated_video}")
    print(f"  evidence PNGs   {out.evidence_dir}")
    print(f"  audit log       {out.audit_log}")
    print(f"  total demo time {seconds:.0f} s")
