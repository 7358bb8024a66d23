"""Nothing changes in the numbers: forecasts and backtests equal golden/forecast.json.

Per-deal and per-invoice records must match exactly (their sha256). Sums over many deals
(periods, totals) may differ by one unit of their rounding (a cent, or 0.01 of an average):
floating-point addition depends on the order the deals are added in, and that order is the
snapshot's stored one, which is not a number. See ``tests/cashflow/golden.py`` for what a
case holds and how to re-bless.
"""

from __future__ import annotations

import math

import pytest

from tests.cashflow import golden

#: Difference allowed between two rounded sums of the same values added in another order:
#: one step of their two-decimal rounding, plus the binary representation of a billion.
SUM_TOLERANCE = 0.011


def same(actual: object, expected: object) -> bool:
    """Equal, with floats equal within ``SUM_TOLERANCE``."""
    if isinstance(actual, float) and isinstance(expected, float):
        return math.isclose(actual, expected, rel_tol=0, abs_tol=SUM_TOLERANCE)
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(same(actual[k], expected[k]) for k in actual)
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(same(a, e) for a, e in zip(actual, expected, strict=True))
    return type(actual) is type(expected) and actual == expected


@pytest.fixture(scope="module")
def expected() -> dict[str, dict]:
    return golden.load()


@pytest.mark.parametrize("which", ["sample", "large"])
def test_golden_forecasts_unchanged(which, expected):
    actual = golden.compute(which)
    wanted = {name: case for name, case in expected.items() if name.startswith(f"{which}/")}
    assert sorted(actual) == sorted(wanted)
    for name, case in actual.items():
        for key in case.keys() | wanted[name].keys():
            assert same(case.get(key), wanted[name].get(key)), f"{name}: {key} differs (see golden.py)"


def test_golden_comparison_allows_only_summation_noise():
    assert same({"cash_in": 2396856995.66, "n": [1, "a"]}, {"cash_in": 2396856995.65, "n": [1, "a"]})
    assert not same({"cash_in": 2396856995.66}, {"cash_in": 2396856995.68})
    assert not same({"deal_count": 5}, {"deal_count": 5.0})
    assert not same({"sha256": "ab"}, {"sha256": "ac"})
