"""Minor units as a person reads them: 12345 EUR cents -> "123.45" (PDF statements only).

The API's JSON and CSV stay in integer minor units; only a document for people shows
decimals, with the ISO 4217 exponent of the currency (2 unless listed here).
"""

from __future__ import annotations

_BY_DIGITS = {
    0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
    3: "BHD IQD JOD KWD LYD OMR TND",
    4: "CLF UYW",
}
_EXPONENTS = {code: digits for digits, codes in _BY_DIGITS.items() for code in codes.split()}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


def major(amount: int, currency: str) -> str:
    """Exact (integer arithmetic, no float), with thin groups of thousands."""
    digits = exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**digits)
    text = f"{whole:,}".replace(",", " ")
    return f"{sign}{text}.{fraction:0{digits}d}" if digits else f"{sign}{text}"
