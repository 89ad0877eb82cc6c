"""The processes of the local servers: whether one still runs, and stopping one with everything it
started. Each server runs in a session (process group) of its own, so that stopping it reaches its
children too and a Ctrl-C in the developer's terminal does not.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time


class InfraError(RuntimeError):
    """Something the local infrastructure needs is missing or did not start; says what to do."""


def require_binary(binary: str, hint: str) -> str:
    """The path of ``binary``; when it is missing, an error that says how to install it."""
    path = shutil.which(binary)
    if path is None:
        raise InfraError(f"{binary} not found: {hint}")
    return path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's (PostgreSQL runs as postgres under root)
        return True
    return True


def stop_process_group(pid: int, timeout: float) -> None:
    """SIGTERM the group led by ``pid``, wait up to ``timeout`` seconds, then SIGKILL it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
