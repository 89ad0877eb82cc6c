"""The labels simulated senders give their messages (docs/insights.md): a template per campaign,
an A/B variant whose recipients read more or less often, a few tags."""

from __future__ import annotations

# the template of each campaign, in turn
TEMPLATES = ("promo_black_friday", "cart_reminder", "welcome_series", "nps_survey")
# the A/B variants, each with the chance that a delivered message of it gets read
VARIANTS: tuple[tuple[str, float], ...] = (("A", 0.7), ("B", 0.45))
TAGS = ("vip", "sao-paulo", "rio", "new-customer", "reactivation", "app-user")
