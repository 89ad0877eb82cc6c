"""One pure adapter per provider: raw webhook body -> canonical ack events (spec §2–3)."""
