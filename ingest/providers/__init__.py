"""One pure adapter per provider: raw webhook body -> canonical ack events (docs/ingest.md)."""
