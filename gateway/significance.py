"""Is one A/B variant's read rate really different from another's, or could the gap be chance?
A two-proportion z-test of read over delivered, and the sentence a person reads for it
(docs/insights.md, "REST API"). Pure.

Every variant is compared with the one that delivered the most messages (the best-measured one;
ties go to the smallest name), so a campaign of n variants gets n - 1 comparisons, all against
the same reference.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import TypedDict

from contract.events import Counters
from contract.insights import rate

SIGNIFICANCE_LEVEL = 0.05
# Below this a p-value is shown as "p < 0.0001": more digits would claim a precision the normal
# approximation does not have that far out in the tail.
SMALLEST_SHOWN_P = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class ZTest:
    z: float  # b's proportion minus a's, in standard errors
    p_value: float  # two-sided


class Comparison(TypedDict):
    a: str
    b: str
    read_rate_a: float
    read_rate_b: float
    difference: float  # percentage points, b - a
    z: float
    p_value: float
    significant: bool
    summary: str


def two_proportion_z_test(x_a: int, n_a: int, x_b: int, n_b: int) -> ZTest:
    """``x_a`` of ``n_a`` against ``x_b`` of ``n_b``, under the null hypothesis that both come
    from one proportion (estimated pooled). When every trial or none succeeded there is no
    variance and no evidence of a difference: z 0, p 1."""
    if n_a <= 0 or n_b <= 0:
        raise ValueError("each proportion needs at least one trial")
    if not (0 <= x_a <= n_a and 0 <= x_b <= n_b):
        raise ValueError("successes must lie between 0 and the trials")
    pooled = (x_a + x_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if variance == 0:
        return ZTest(0.0, 1.0)
    z = (x_b / n_b - x_a / n_a) / math.sqrt(variance)
    return ZTest(z, math.erfc(abs(z) / math.sqrt(2)))


def reference_variant(delivered: Mapping[str, int]) -> str:
    """The variant with the most delivered messages; ties: the smallest name."""
    return min(delivered, key=lambda name: (-delivered[name], name))


def p_text(p_value: float) -> str:
    """``p = 0.31``, ``p = 0.0004``, ``p < 0.0001``: two significant digits, cut rather than
    rounded so that the shown value is below 0.05 exactly when the test is significant."""
    p = Decimal(repr(p_value))
    if p < SMALLEST_SHOWN_P:
        return f"p < {SMALLEST_SHOWN_P}"
    decimals = 1 - p.adjusted()  # adjusted(): the exponent of the first significant digit
    shown = p.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_FLOOR).normalize()
    return f"p = {shown:f}"


def _chance(p_value: float) -> str:
    if p_value >= SIGNIFICANCE_LEVEL:
        return "a gap this large could well be chance"
    odds = "fewer than 1 in 1,000" if p_value < 0.001 else f"about 1 in {round(1 / p_value):,}"
    return f"a gap this large would arise by chance in {odds} campaigns of this size"


def _points(difference: float) -> str:
    """One decimal, or two when one would show a real gap as 0.0."""
    shown = f"{abs(difference):.1f}"
    return f"{abs(difference):.2f}" if shown == "0.0" else shown


def summary(a: str, b: str, rate_a: float, rate_b: float, p_value: float) -> str:
    """The comparison in one plain sentence (rates in percent)."""
    if rate_a == rate_b:
        relation = f"is the same as {a}'s"
    else:
        side = "above" if rate_b > rate_a else "below"
        relation = f"is {_points(rate_b - rate_a)} points {side} {a}'s ({rate_a:.1f} %)"
    return f"{b}'s read rate ({rate_b:.1f} %) {relation}; {_chance(p_value)} ({p_text(p_value)})."


def compare_read_rates(variants: Mapping[str, Counters]) -> list[Comparison] | None:
    """Every variant's read rate (read over delivered) against the reference variant's, by
    name. A variant with no delivered message yet has no read rate and is left out, so a variant
    just started does not hide the comparisons of the others; None with fewer than two left."""
    variants = {name: c for name, c in variants.items() if c.delivered > 0}
    if len(variants) < 2:
        return None
    a = reference_variant({name: c.delivered for name, c in variants.items()})
    ca = variants[a]
    comparisons: list[Comparison] = []
    for b in sorted(variants):
        if b == a:
            continue
        cb = variants[b]
        test = two_proportion_z_test(ca.read, ca.delivered, cb.read, cb.delivered)
        rate_a, rate_b = rate(ca.read, ca.delivered), rate(cb.read, cb.delivered)
        comparisons.append(
            {
                "a": a,
                "b": b,
                "read_rate_a": rate_a,
                "read_rate_b": rate_b,
                "difference": round(rate_b - rate_a, 2),
                "z": test.z,
                "p_value": test.p_value,
                "significant": test.p_value < SIGNIFICANCE_LEVEL,
                "summary": summary(a, b, rate_a, rate_b, test.p_value),
            }
        )
    return comparisons
