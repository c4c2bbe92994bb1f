"""Protocol bridges fed by the station's verdict stream (docs/deploy.md): the reject bridge turns FAIL and
FAULT verdicts into an actuator pulse at the part's firing time. A bridge is its own process and reads the
same MQTT messages a PLC reads (no path around the spool); it imports the stages, never the daemon."""
