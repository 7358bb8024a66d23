"""Money and age formatting used by tiles, tables and captions."""

import datetime as dt

import pytest

from core.formatting import age_in_days, money_full, money_short


@pytest.mark.parametrize(("value", "text"), [
    (1_240_000, "SAR 1.24M"),
    (12_400_000, "SAR 12.4M"),
    (950_000, "SAR 950K"),
    (3_100, "SAR 3.10K"),
    (-3_100, "-SAR 3.10K"),
    (2_500_000_000, "SAR 2.50B"),
    (999, "SAR 999"),
    (0, "SAR 0"),
    (None, "—"),
    (float("nan"), "—"),
])
def test_money_short_scales_for_tiles(value, text):
    assert money_short(value, "SAR") == text


def test_money_full_keeps_every_digit_with_separators():
    assert money_full(1_240_000.4, "SAR") == "SAR 1,240,000"
    assert money_full(-75.5, "USD") == "-USD 76"


def test_age_in_days_reads_naturally():
    today = dt.date(2026, 11, 25)
    assert age_in_days(today, today) == "today"
    assert age_in_days(dt.date(2026, 11, 24), today) == "1 day"
    assert age_in_days(dt.date(2026, 11, 13), today) == "12 days"
