"""The processes of the local servers: whether one still runs, and stopping one with everything it
started. Each server runs in a session (process group) of its own, so that stopping it reaches its
children too and a Ctrl-C in the developer's terminal does not.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time

# The servers this process started and has not stopped yet. Their Popen objects stay referenced
# until stop_process_group: one dropped while its child still runs is a ResourceWarning ("subprocess
# N is still running"), and its child a zombie until some later Popen happens to reap it.
_STARTED: dict[int, subprocess.Popen[bytes]] = {}


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


def keep_running(proc: subprocess.Popen[bytes]) -> None:
    """Hold on to ``proc``, a server meant to outlive its caller, until
    :func:`stop_process_group` stops it (a server another process started is stopped by pid)."""
    _STARTED[proc.pid] = proc


def stop_process_group(pid: int, timeout: float) -> None:
    """SIGTERM the group led by ``pid``, wait up to ``timeout`` seconds, then SIGKILL it."""
    try:
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
    finally:
        proc = _STARTED.pop(pid, None)
        if proc is not None:
            proc.poll()  # reaped above; this only lets the Popen know its child has ended
