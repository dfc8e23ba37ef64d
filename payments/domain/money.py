"""Money: integer minor units plus a currency. Never a float.

`Money` is the one way to make an amount. Arithmetic across currencies raises
`CurrencyMismatch` instead of converting; amounts are Python ints, so there is no
rounding anywhere except where a rule says so (settlement fees, half-up).
"""

from __future__ import annotations

from dataclasses import dataclass

from payments.domain.currencies import is_iso_4217
from payments.domain.errors import CurrencyMismatch, InvalidAmount, InvalidCurrency

MAX_AMOUNT = 10**12  # the contract's upper bound for one command's amount


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        # bool is a subclass of int: True is not one cent.
        if type(self.amount) is not int:
            raise InvalidAmount(f"amount must be an integer of minor units, not {self.amount!r}")
        if not is_iso_4217(self.currency):
            raise InvalidCurrency(f"{self.currency!r} is not an ISO 4217 currency code")

    def _check_same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._check_same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check_same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def check_amount(amount: object, field: str = "amount") -> int:
    """The contract's amount rule: an int (not bool), 1 <= amount <= 10^12."""
    if type(amount) is not int:
        raise InvalidAmount(
            f"{field} must be a JSON integer of minor units, got {type(amount).__name__}"
        )
    if not 1 <= amount <= MAX_AMOUNT:
        raise InvalidAmount(f"{field} must be between 1 and {MAX_AMOUNT}, got {amount}")
    return amount


def fee_half_up(gross: int, fee_bps: int) -> int:
    """fees = (gross * fee_bps + 5000) div 10000, the contract's half-up rounding."""
    return (gross * fee_bps + 5000) // 10000
