"""The network twin: MQTT framing, the relays and the per-device proxy that injects network faults."""
