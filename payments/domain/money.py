"""Money: integer minor units in an account's currency. Never a float.

An amount is a Python `int` of minor units; the contract bounds one command's amount
(`MAX_AMOUNT`) and the envelope models enforce it (strict ints, so no bool or float
passes). The currency lives with the account: every `Account` holds one currency and
`Account.check_currency` refuses a posting in another (`currency_mismatch`), so
arithmetic across currencies cannot happen and nothing is ever converted. (An earlier
`Money` value class had no callers: the aggregates already make its one check, and an
object per posting would only cost time on the hot path. It was removed.)

There is no rounding anywhere except where a rule says so: settlement fees, half-up.
"""

from __future__ import annotations

MAX_AMOUNT = 10**12  # the contract's upper bound for one command's amount


def fee_half_up(gross: int, fee_bps: int) -> int:
    """fees = (gross * fee_bps + 5000) div 10000, the contract's half-up rounding."""
    return (gross * fee_bps + 5000) // 10000
