"""How long the broker may hold a fetch of ours waiting for records: 50 ms, for every consumer
that feeds the live path (the worker's Faust consumer, the gateway's snapshot consumer).

aiokafka keeps one fetch in flight per broker, and leaves out of it every partition whose fetched
records the application has not taken within 100 ms. When a busy partition is left out this way,
the fetch names only quiet partitions, so the broker holds it for its whole wait, and no new
record of any busy partition can be fetched until it returns. With Faust's fixed 1.5 s wait the
worker fell into this on a loaded machine and stayed a second behind for the rest of the run:
each long fetch let work pile up, and the larger batches were again not taken within 100 ms
(docs/worker.md). A short wait bounds the cost of being left out; when idle it costs about 20
empty fetches a second per consumer.
"""

from __future__ import annotations

FETCH_MAX_WAIT_MS = 50
