"""Which directory under ``STATE_DIR`` a worker process keeps its databases in.

RocksDB lets one process at a time open a database, and several workers may run on one host with
the same settings. Each worker therefore takes the first numbered slot that no live process holds
(an exclusive ``flock``, released by the kernel when the process ends, however it ends), so a
restarted worker finds the state it left behind, and two workers never share one.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import itertools
import socket
from pathlib import Path


def claim_slot(base: Path) -> Path:
    """The first slot under ``base`` no other process holds, now held by this one."""
    base.mkdir(parents=True, exist_ok=True)
    for index in itertools.count():
        slot = base / f"slot-{index}"
        slot.mkdir(exist_ok=True)
        handle = (slot / "lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        # held open (and so locked) while the process lives; closed at exit rather than collected
        atexit.register(handle.close)
        return slot
    raise AssertionError("unreachable")


def member_id(slot: Path) -> str:
    """The worker's static member id in its consumer group: the host and the slot's path, so a
    worker restarted on the same disk is the same member, and two workers of one host are never
    one (each ``STATE_DIR`` has its own ``slot-0``; one id for both made the broker fence one)."""
    path = hashlib.sha256(str(slot.resolve()).encode()).hexdigest()[:12]
    return f"{socket.gethostname()}-{slot.name}-{path}"
