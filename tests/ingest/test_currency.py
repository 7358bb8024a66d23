"""The rate table: units of the base currency per unit of each currency, editable, never a silent 1.0."""

from __future__ import annotations

import pydantic
import pytest

from core.currency import RateTable


def test_rate_table_defaults_to_sar_with_the_usd_peg():
    rates = RateTable()

    assert (rates.base, rates.rate("usd"), rates.rate("SAR")) == ("SAR", 3.75, 1.0)
    assert rates.convert(100.0, "USD") == 375.0


def test_rate_table_has_no_rate_for_an_unknown_or_missing_currency():
    rates = RateTable()

    assert (rates.rate("XYZ"), rates.rate(None), rates.convert(100.0, "XYZ")) == (None, None, None)


def test_rate_table_default_in_another_base_uses_cross_rates():
    rates = RateTable.default("usd")

    assert rates.base == "USD"
    assert rates.rate("SAR") == pytest.approx(1 / 3.75)
    assert rates.rate("USD") == 1.0


def test_rate_table_accepts_edits_and_refuses_non_positive_rates():
    edited = RateTable(rates={"usd": 3.7, "QAR": 1.0})

    assert (edited.rate("USD"), edited.rate("SAR")) == (3.7, 1.0)
    with pytest.raises(pydantic.ValidationError, match="check EUR"):
        RateTable(rates={"EUR": 0})
