"""Typed keys of the state shared by the gateway's handlers (one app, one of each)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.capacity import ConnectionLimits, ExportSlots
from gateway.fanout import Hub
from gateway.feed import SnapshotFeed
from gateway.grants import SocketGrants
from gateway.metrics import GatewayMetrics
from gateway.revocation import RevokedKeys
from gateway.settings import GatewaySettings

SETTINGS = web.AppKey("settings", GatewaySettings)
METRICS = web.AppKey("metrics", GatewayMetrics)
HUB = web.AppKey("hub", Hub)
FEED = web.AppKey("feed", SnapshotFeed)
ENGINE = web.AppKey("engine", AsyncEngine)
READY = web.AppKey("ready", asyncio.Event)
EXPORT_ENGINE = web.AppKey("export_engine", AsyncEngine)  # the CSV exports' own pool
EXPORT_SLOTS = web.AppKey("export_slots", ExportSlots)
PUSHER_LIMITS = web.AppKey("pusher_limits", ConnectionLimits)
REVOKED = web.AppKey("revoked", RevokedKeys)
GRANTS = web.AppKey("grants", SocketGrants)
