"""Money and age formatting used by tiles, tables and captions."""

import datetime as dt

import pytest

from core.formatting import WORD_JOINER, age_in_days, money_full, money_short, plain_markdown


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


def test_money_full_is_the_one_money_form_with_or_without_a_currency():
    assert money_full(-1_234.0) == "-1,234"
    assert money_full(1_234.0, None) == "1,234"
    assert money_full(None, "SAR") == "—"
    assert money_full(float("nan")) == "—"


def test_age_in_days_reads_naturally():
    today = dt.date(2026, 11, 25)
    assert age_in_days(today, today) == "today"
    assert age_in_days(dt.date(2026, 11, 24), today) == "1 day"
    assert age_in_days(dt.date(2026, 11, 13), today) == "12 days"


def test_plain_markdown_escapes_every_markdown_form_and_breaks_autolinks():
    image = "![x](http://127.0.0.1:8000/p.png?leak=1)"

    escaped = plain_markdown(f"{image}\n**bold** <b>x</b> $5 :red[x] www.example.com ops@example.com")

    assert escaped.replace(WORD_JOINER, "") == (
        r"\!\[x\]\(http\:\/\/127\.0\.0\.1\:8000\/p\.png\?leak\=1\)" "  \n"
        r"\*\*bold\*\* \<b\>x\<\/b\> \$5 \:red\[x\] www\.example\.com ops\@example\.com"
    )
    for autolink in ("http\\:" + WORD_JOINER, "www" + WORD_JOINER, "ops" + WORD_JOINER):
        assert autolink in escaped
    assert plain_markdown("Fit-out\r@SUM(1+1)\r\nend").count("  \n") == 2
