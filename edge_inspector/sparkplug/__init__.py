"""Sparkplug B edge node: the station as an edge node and device in `spBv1.0/{group}/…`, fed from its own outbox.

payload.py (the protobuf subset, by hand), metrics.py (what the births and data carry), node.py (bdSeq, seq,
messages), inbound.py (STATE and NCMD, bounded), session.py (one MQTT client per connection and its NDEATH
will), outbox.py (its spool file and the memory fallback), edge_node.py (the sender thread over the outbox),
build.py (from the config). docs/deploy.md: an Ignition setup.
"""
