"""``tickstream simulate``: realistic campaigns sent through the real webhooks of a running ingest
(docs/operations.md), optionally checked against the gateway's counters and insights."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from datetime import UTC, datetime

from tickstream.deployment import Deployment
from tickstream.simulator.checking import differences_table, table, verify
from tickstream.simulator.plan import Shape, make_plan
from tickstream.simulator.sending import Progress, send_plan
from tickstream.state_dir import default_state_dir, load_dev_env


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--campaigns", type=int, default=3)
    parser.add_argument("--recipients", type=int, default=500, help="per campaign")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds the dispatches span")
    parser.add_argument(
        "--delay-scale",
        type=float,
        default=1.0,
        help="multiplies the realistic ack delays (seconds to hours, some reads a day later)",
    )
    parser.add_argument(
        "--horizon",
        type=float,
        default=60.0,
        help="seconds (before --delay-scale) the campaigns are followed after the last "
        "dispatch; later acks are not sent",
    )
    parser.add_argument(
        "--rate", type=float, default=0.0, help="at most this many acks/s (0: no cap)"
    )
    parser.add_argument(
        "--skip-share", type=float, default=0.04, help="share of recipients left out (0–1)"
    )
    parser.add_argument("--workspace", default="1")
    parser.add_argument("--seed", type=int, default=None, help="same seed, same campaigns")
    parser.add_argument(
        "--verify",
        "--check",
        action="store_true",
        help="poll the gateway until its counters and insights match the oracle's",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds --verify waits")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from gateway.auth import issue_token

    load_dev_env(default_state_dir())
    settings = Deployment.from_env()
    missing = [
        name
        for name, value in (
            ("INGEST_API_TOKEN", settings.ingest.ingest_api_token),
            ("WEBJS_HMAC_SECRET", settings.ingest.webjs_hmac_secret),
            ("WAHA_HMAC_KEY", settings.ingest.waha_hmac_key),
            ("EVOLUTION_TOKEN", settings.ingest.evolution_token),
            ("META_APP_SECRET", settings.ingest.meta_app_secret),
            ("TWILIO_AUTH_TOKEN", settings.ingest.twilio_auth_token),
            ("PUBLIC_BASE_URL", settings.ingest.public_base_url),
        )
        if not value
    ]
    if missing:
        print(f"not set: {', '.join(missing)} (is `tickstream up` running?)", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    shape = Shape(
        campaigns=args.campaigns,
        recipients=args.recipients,
        duration=args.duration,
        delay_scale=args.delay_scale,
        horizon=args.horizon,
        skip_share=args.skip_share,
        seed=seed,
    )
    plan = make_plan(shape, args.workspace, secrets.token_hex(3), datetime.now(UTC))
    expected = plan.expected()
    print(
        f"simulating {args.campaigns} campaigns × {args.recipients} recipients "
        f"(seed {seed}): {len(plan.posts)} requests, {plan.acks} webhook acks "
        f"→ http://127.0.0.1:{settings.ingest.ingest_port}",
        flush=True,
    )
    progress = Progress(plan.acks, sys.stderr, enabled=not args.quiet)
    report = asyncio.run(send_plan(plan, settings, rate=args.rate, progress=progress))
    print(f"sent {report.sent_posts} requests ({report.retries} retries)")
    for refusal in report.refused[:10]:
        print(f"  refused: {refusal}", file=sys.stderr)
    print("expected final counts (the simulator's own oracle):")
    print(table((c, plan.campaigns[c], expected.get(c)) for c in plan.campaigns), flush=True)
    if report.refused:
        print(f"{len(report.refused)} requests were refused", file=sys.stderr)
        return 1
    if not args.verify:
        return 0
    if not settings.gateway.token_secret:
        print("TOKEN_SECRET is not set: cannot ask the gateway", file=sys.stderr)
        return 2
    token = issue_token(settings.gateway.token_secret, args.workspace, ttl_seconds=3600)
    print(
        f"waiting up to {args.timeout:.0f}s for the gateway to show these totals and the "
        "oracle's insights…",
        flush=True,
    )
    insights = plan.expected_insights(report.arrivals)
    left = asyncio.run(verify(settings, token, expected, insights, args.timeout))
    if not left:
        print("verified: the gateway's counters and insights match the oracle for every campaign")
        return 0
    print("MISMATCH after the timeout; what differs:")
    print(differences_table(left))
    return 1
