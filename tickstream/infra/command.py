"""``tickstream infra up|down|status``: the local broker and cluster of the state directory."""

from __future__ import annotations

import argparse
import os

from tickstream.infra.local import LocalInfra
from tickstream.state_dir import default_state_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["up", "down", "status"])


def run(args: argparse.Namespace) -> int:
    infra = LocalInfra(default_state_dir())
    if args.action == "up":
        if os.environ.get("KAFKA_BOOTSTRAP") and os.environ.get("DATABASE_URL"):
            print("KAFKA_BOOTSTRAP and DATABASE_URL are set: using your servers, starting nothing")
            return 0
        timings = infra.up()
        for name, seconds in timings.items():
            print(f"{name} started in {seconds:.1f}s")
        for name, state in infra.status().items():
            print(f"{name}: {state}")
        print(f"addresses written to {infra.env_file}")
    elif args.action == "down":
        stopped = infra.down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    else:
        for name, state in infra.status().items():
            print(f"{name}: {state}")
    return 0
