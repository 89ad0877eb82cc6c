"""The two-proportion z-test behind the variants' comparisons, its p-value text and summary:
hand-computed cases, and properties checked with hypothesis (the identity z² = Pearson's
chi-square of the 2×2 table, an independent formula; scipy is not installed)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from contract.events import Counters
from gateway.significance import (
    SIGNIFICANCE_LEVEL,
    compare_read_rates,
    p_text,
    reference_variant,
    summary,
    two_proportion_z_test,
)


@st.composite
def proportions(draw: st.DrawFn) -> tuple[int, int]:
    """(successes, trials) with at least one trial."""
    n = draw(st.integers(1, 10**6))
    return draw(st.integers(0, n)), n


def chi_square(x_a: int, n_a: int, x_b: int, n_b: int) -> float:
    """Pearson's chi-square of the 2×2 table (no continuity correction):
    N (ad - bc)² / (row and column sums multiplied)."""
    a, b, c, d = x_a, n_a - x_a, x_b, n_b - x_b
    denominator = (a + b) * (c + d) * (a + c) * (b + d)
    return (a + b + c + d) * (a * d - b * c) ** 2 / denominator


# --------------------------------------------------------------------------- the test


def test_known_cases_computed_by_hand() -> None:
    # 90 of 200 against 110 of 200: pooled 0.5, standard error sqrt(0.25 * 0.01) = 0.05,
    # z = 0.10 / 0.05 = 2; two-sided p = 2 (1 - Φ(2)) = 0.0455003 (normal table)
    test = two_proportion_z_test(90, 200, 110, 200)
    assert test.z == pytest.approx(2.0, rel=1e-12)
    assert test.p_value == pytest.approx(0.0455003, abs=1e-7)
    # 310 of 1000 against 382 of 1000: pooled 0.346, se = sqrt(0.346 * 0.654 * 0.002)
    # = 0.0212737, z = 0.072 / 0.0212737 = 3.38447; p = 0.000713 (normal table: Φ(3.38) ≈ 0.99964)
    test = two_proportion_z_test(310, 1000, 382, 1000)
    assert test.z == pytest.approx(3.38447, abs=1e-5)
    assert test.p_value == pytest.approx(0.000713, abs=1e-6)
    # the same rates: no evidence at all
    assert two_proportion_z_test(50, 100, 25, 50).z == 0.0
    assert two_proportion_z_test(50, 100, 25, 50).p_value == pytest.approx(1.0)


def test_no_variance_is_no_evidence_and_impossible_counts_are_refused() -> None:
    for x_a, n_a, x_b, n_b in ((0, 10, 0, 30), (10, 10, 30, 30)):
        test = two_proportion_z_test(x_a, n_a, x_b, n_b)
        assert (test.z, test.p_value) == (0.0, 1.0)
    for bad in ((0, 0, 1, 2), (1, 2, 0, 0), (3, 2, 1, 2), (1, 2, -1, 2)):
        with pytest.raises(ValueError):
            two_proportion_z_test(*bad)


@given(proportions(), proportions())
def test_z_squared_is_pearsons_chi_square(a: tuple[int, int], b: tuple[int, int]) -> None:
    test = two_proportion_z_test(*a, *b)
    pooled = (a[0] + b[0]) / (a[1] + b[1])
    assume(0 < pooled < 1)  # otherwise the table has an empty column: no chi-square
    assert test.z**2 == pytest.approx(chi_square(*a, *b), rel=1e-6, abs=1e-9)
    # the z-test's p-value is the chi-square's with one degree of freedom
    assert test.p_value == pytest.approx(math.erfc(math.sqrt(test.z**2 / 2)), rel=1e-9)


@given(proportions(), proportions(), st.integers(1, 50))
def test_sign_symmetry_and_growth_with_size(a: tuple[int, int], b: tuple[int, int], k: int) -> None:
    forward, backward = two_proportion_z_test(*a, *b), two_proportion_z_test(*b, *a)
    assert backward.z == pytest.approx(-forward.z, rel=1e-9, abs=1e-12)
    assert backward.p_value == pytest.approx(forward.p_value, rel=1e-9, abs=1e-300)
    assert 0.0 <= forward.p_value <= 1.0
    assert (forward.z > 0) == (b[0] * a[1] > a[0] * b[1])
    # the same rates over k times the messages: z grows by sqrt(k), so p only falls
    bigger = two_proportion_z_test(k * a[0], k * a[1], k * b[0], k * b[1])
    assert bigger.z == pytest.approx(math.sqrt(k) * forward.z, rel=1e-6, abs=1e-9)
    assert bigger.p_value <= forward.p_value + 1e-12


# --------------------------------------------------------------------------- what is shown


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (1.0, "p = 1"),
        (0.31, "p = 0.31"),
        (0.29, "p = 0.29"),  # 0.29 is 0.28999… as a float: cut from its shortest repr
        (0.0004, "p = 0.0004"),
        (0.000713, "p = 0.00071"),
        (0.0499, "p = 0.049"),  # cut, not rounded up to 0.05
        (0.05, "p = 0.05"),
        (0.0001, "p = 0.0001"),
        (0.00009, "p < 0.0001"),
        (0.0, "p < 0.0001"),
    ],
)
def test_p_text(p: float, text: str) -> None:
    assert p_text(p) == text


@given(st.floats(0.0001, 1.0))
def test_the_shown_p_is_significant_exactly_when_p_is(p: float) -> None:
    shown = Decimal(p_text(p).removeprefix("p = "))
    assert (shown < Decimal(str(SIGNIFICANCE_LEVEL))) == (p < SIGNIFICANCE_LEVEL)
    # two significant digits, never more than p
    assert shown <= Decimal(repr(p))
    assert Decimal(repr(p)) - shown < Decimal(1).scaleb(Decimal(repr(p)).adjusted() - 1)


def test_summaries_say_it_plainly() -> None:
    assert summary("A", "B", 31.0, 38.2, 0.000713) == (
        "B's read rate (38.2 %) is 7.2 points above A's (31.0 %); a gap this large would arise "
        "by chance in fewer than 1 in 1,000 campaigns of this size (p = 0.00071)."
    )
    assert summary("A", "B", 55.0, 45.0, 0.0455003) == (
        "B's read rate (45.0 %) is 10.0 points below A's (55.0 %); a gap this large would arise "
        "by chance in about 1 in 22 campaigns of this size (p = 0.045)."
    )
    assert summary("control", "new", 40.0, 41.3, 0.31) == (
        "new's read rate (41.3 %) is 1.3 points above control's (40.0 %); a gap this large "
        "could well be chance (p = 0.31)."
    )
    assert summary("A", "B", 30.0, 30.04, 0.9) == (
        "B's read rate (30.0 %) is 0.04 points above A's (30.0 %); a gap this large could well "
        "be chance (p = 0.9)."
    )
    assert summary("A", "B", 30.0, 30.0, 1.0) == (
        "B's read rate (30.0 %) is the same as A's; a gap this large could well be chance (p = 1)."
    )


# --------------------------------------------------------------------------- comparisons


@given(st.dictionaries(st.text(min_size=1, max_size=3), st.integers(0, 5), min_size=1))
def test_the_reference_delivered_the_most_and_ties_go_to_the_smallest_name(
    delivered: dict[str, int],
) -> None:
    chosen = reference_variant(delivered)
    most = max(delivered.values())
    assert delivered[chosen] == most
    assert chosen == min(name for name, n in delivered.items() if n == most)


def test_comparisons_against_the_most_delivered_variant() -> None:
    variants = {
        "A": Counters(dispatched=1100, sent=1050, delivered=1000, read=310),
        "B": Counters(dispatched=1100, sent=1050, delivered=1000, read=382),
        "C": Counters(dispatched=1200, sent=1150, delivered=1100, read=341),
    }
    comparisons = compare_read_rates(variants)
    assert comparisons is not None
    assert [(c["a"], c["b"]) for c in comparisons] == [("C", "A"), ("C", "B")]
    c_vs_b = comparisons[1]
    assert (c_vs_b["read_rate_a"], c_vs_b["read_rate_b"], c_vs_b["difference"]) == (31.0, 38.2, 7.2)
    expected = two_proportion_z_test(341, 1100, 382, 1000)
    assert (c_vs_b["z"], c_vs_b["p_value"]) == (expected.z, expected.p_value)
    assert c_vs_b["significant"] is True
    assert c_vs_b["summary"] == summary("C", "B", 31.0, 38.2, expected.p_value)
    c_vs_a = comparisons[0]
    assert c_vs_a["difference"] == 0.0 and c_vs_a["significant"] is False
    # ties on delivered: the smallest name is the reference
    tied = compare_read_rates({k: variants[k] for k in ("B", "A")})
    assert tied is not None and [(c["a"], c["b"]) for c in tied] == [("A", "B")]


def test_no_comparisons_without_two_variants_with_delivered_messages() -> None:
    one = Counters(dispatched=10, sent=10, delivered=10, read=3)
    assert compare_read_rates({}) is None
    assert compare_read_rates({"A": one}) is None
    assert compare_read_rates({"A": one, "B": Counters(dispatched=10, sent=4)}) is None


def test_a_variant_with_nothing_delivered_yet_is_left_out_of_the_others_comparisons() -> None:
    started = Counters(dispatched=10, sent=4)
    variants = {
        "A": Counters(dispatched=100, sent=100, delivered=100, read=30),
        "B": Counters(dispatched=90, sent=90, delivered=90, read=45),
        "C": started,
    }
    comparisons = compare_read_rates(variants)
    assert comparisons is not None
    assert [(c["a"], c["b"]) for c in comparisons] == [("A", "B")]


@given(
    st.dictionaries(
        st.sampled_from("ABCDE"),
        proportions().map(lambda p: Counters(delivered=p[1], read=p[0])),
        min_size=2,
    )
)
def test_every_other_variant_is_compared_once(variants: dict[str, Counters]) -> None:
    comparisons = compare_read_rates(variants)
    assert comparisons is not None
    reference = reference_variant({k: c.delivered for k, c in variants.items()})
    assert [c["b"] for c in comparisons] == sorted(set(variants) - {reference})
    for c in comparisons:
        assert c["a"] == reference
        assert c["significant"] == (c["p_value"] < SIGNIFICANCE_LEVEL)
        assert c["difference"] == round(c["read_rate_b"] - c["read_rate_a"], 2)
