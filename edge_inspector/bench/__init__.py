"""The measurements behind `edge-inspector bench`: model latency and throughput (model.py), the daemon end to
end through a private broker (e2e.py), the durable spool (spool.py), what-if replays and the live frame
(what_if.py). Each prints p50/p99 and the machine it ran on."""
