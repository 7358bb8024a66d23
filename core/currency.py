"""Currency conversion to the base currency through an editable rate table.

A rate is how many units of the base currency one unit of a currency buys (base SAR:
``USD 3.75``). The defaults are round reference figures for planning, not market quotes;
the Settings page and callers replace them. A currency the table does not know has no
rate: its ``value_base`` stays empty and the ingest reports it, never a silent 1.0.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator, model_validator

#: Units of SAR per unit of each currency (SAR is pegged to USD at 3.75; AED at 3.6725/USD).
DEFAULT_SAR_RATES: dict[str, float] = {
    "SAR": 1.0,
    "USD": 3.75,
    "EUR": 4.05,
    "GBP": 4.75,
    "AED": 1.0211,
    "BGN": 2.07,
    "KWD": 12.20,
    "QAR": 1.03,
    "BHD": 9.95,
    "OMR": 9.74,
    "JOD": 5.29,
    "EGP": 0.077,
    "TRY": 0.11,
    "INR": 0.045,
    "PKR": 0.0135,
    "CNY": 0.52,
    "JPY": 0.025,
    "CHF": 4.25,
    "CAD": 2.75,
    "AUD": 2.45,
}

#: Symbols that stand for one currency when a value carries no code ("$1,200").
CURRENCY_SYMBOLS: dict[str, str] = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "﷼": "SAR", "SR": "SAR"}


class RateTable(BaseModel):
    """Units of ``base`` per unit of each currency; codes are upper-case ISO 4217."""

    base: str = "SAR"
    rates: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_SAR_RATES))

    @field_validator("base")
    @classmethod
    def _upper_base(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("rates")
    @classmethod
    def _clean_rates(cls, value: dict[str, float]) -> dict[str, float]:
        cleaned = {code.strip().upper(): float(rate) for code, rate in value.items()}
        bad = [code for code, rate in cleaned.items() if not rate > 0]
        if bad:
            raise ValueError(f"rates must be positive numbers; check {', '.join(sorted(bad))}")
        return cleaned

    @model_validator(mode="after")
    def _base_is_one(self) -> RateTable:
        self.rates[self.base] = 1.0
        return self

    @classmethod
    def default(cls, base: str = "SAR") -> RateTable:
        """The default table expressed in ``base`` (cross rates through SAR)."""
        base = base.strip().upper()
        if base not in DEFAULT_SAR_RATES:
            return cls(base=base, rates={base: 1.0})
        per_base = DEFAULT_SAR_RATES[base]
        return cls(base=base, rates={code: rate / per_base for code, rate in DEFAULT_SAR_RATES.items()})

    def rate(self, currency: str | None) -> float | None:
        """Units of base per unit of ``currency``; None when the currency is unknown."""
        if not currency:
            return None
        return self.rates.get(currency.strip().upper())

    def convert(self, value: float | None, currency: str | None) -> float | None:
        """``value`` in the base currency, or None when the value or the rate is missing."""
        rate = self.rate(currency)
        return None if value is None or rate is None else value * rate

