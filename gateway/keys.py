"""Typed keys of the state shared by the gateway's handlers (one app, one of each)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from contract.settings import Settings
from gateway.fanout import Hub
from gateway.feed import SnapshotFeed
from gateway.metrics import GatewayMetrics

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", GatewayMetrics)
HUB = web.AppKey("hub", Hub)
FEED = web.AppKey("feed", SnapshotFeed)
ENGINE = web.AppKey("engine", AsyncEngine)
READY = web.AppKey("ready", asyncio.Event)
