"""Workers on one host each take their own state slot, and a restarted one finds its old one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from streams.state_dir import claim_slot, member_id

HOLD = "import sys, time; from streams.state_dir import claim_slot; "
HOLD += "print(claim_slot(__import__('pathlib').Path(sys.argv[1])), flush=True); time.sleep(60)"


def test_two_workers_never_share_a_slot(tmp_path: Path) -> None:
    first, second = claim_slot(tmp_path), claim_slot(tmp_path)
    assert first != second and first.parent == second.parent == tmp_path


def test_the_slot_of_a_killed_worker_is_free_again(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    held = Path(holder.stdout.readline().strip())
    assert claim_slot(tmp_path) != held  # taken while the holder lives
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    assert claim_slot(tmp_path) == held


def test_workers_of_one_host_are_different_group_members_and_a_restart_the_same(
    tmp_path: Path,
) -> None:
    """Two STATE_DIRs on one host each have a slot-0: one member id for both would make the
    broker fence one of the workers."""
    first, second = claim_slot(tmp_path / "a"), claim_slot(tmp_path / "b")
    assert first.name == second.name == "slot-0"
    assert member_id(first) != member_id(second)
    assert member_id(first) == member_id(tmp_path / "a" / "slot-0")
