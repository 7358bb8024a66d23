"""Nothing changes in the numbers: forecasts and backtests equal golden/forecast.json.

See ``tests/cashflow/golden.py`` for what a case holds and how to re-bless on purpose.
"""

from __future__ import annotations

import pytest

from tests.cashflow import golden


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
            assert case.get(key) == wanted[name].get(key), f"{name}: {key} differs (see golden.py)"
