"""OPC UA server for the station (`edge-inspector opcua-server`), modelled on OPC 40100-1 (Machine Vision).

A separate process fed by the station's MQTT contract (verdict stream and retained status), so nothing takes a
path around the daemon's spool and the server outlives daemon restarts. Needs the `opcua` extra (asyncua).
Modules: config (OPCUA.yaml), messages (checked MQTT objects), state (vision state, de-duplication),
feed (MQTT subscriber, manual acknowledgements), address_space (nodes and the ResultReady event type),
result_store (results.sqlite: what was emitted), result_events (live events and their history),
pump (feed to nodes, exactly once through restarts), server (security and the runner).
"""
