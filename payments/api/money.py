"""Minor units as a person reads them: 12345 EUR cents -> "123.45" (PDF statements only).

The API's JSON and CSV stay in integer minor units; only a document for people shows
decimals, with the ISO 4217 exponent of the currency (payments.domain.currencies).
"""

from __future__ import annotations

from payments.domain.currencies import exponent


def major(amount: int, currency: str) -> str:
    """Exact (integer arithmetic, no float), with thin groups of thousands."""
    digits = exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**digits)
    text = f"{whole:,}".replace(",", " ")
    return f"{sign}{text}.{fraction:0{digits}d}" if digits else f"{sign}{text}"
