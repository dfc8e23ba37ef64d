"""SettlementBatch: one settlement of a merchant's unsettled items.

fees = (gross × fee_bps + 5000) div 10000 (half-up); net = gross − refunds −
chargebacks − disputes + reinstatements − fees, where disputes are the dispute
withdrawals and dispute fees taken from the merchant since its last batch and
reinstatements what won disputes gave back (payments.domain.dispute). The postings
happen on the accounts; this records the figures.

Merchant money is paid out once, and never more than the merchant holds. What the
merchant owes before the batch (`deficit_carried_in`: the negative part of its
balance outside the batch, i.e. available − unsettled net — an earlier batch's
negative net, or overdraft it used) is recovered first:
payout = max(0, net − deficit_carried_in). What it still owes after the batch
(`deficit_carried_out` = max(0, −available after)) is carried into the next batch
by the same rule, since it stays in the merchant's balance. The fee is always posted.
"""

from __future__ import annotations

from dataclasses import dataclass

from eventsourcing.domain import Aggregate

from payments.domain.ids import batch_id_to_uuid
from payments.domain.money import fee_half_up


@dataclass(frozen=True)
class SettlementFigures:
    gross: int
    refunds: int
    chargebacks: int
    fees: int
    net: int
    item_count: int
    deficit_carried_in: int = 0
    deficit_carried_out: int = 0
    disputes: int = 0
    reinstatements: int = 0

    @property
    def payout(self) -> int:
        return max(0, self.net - self.deficit_carried_in)

    @classmethod
    def compute(
        cls,
        *,
        gross: int,
        refunds: int,
        chargebacks: int,
        item_count: int,
        fee_bps: int,
        available: int = 0,
        disputes: int = 0,
        reinstatements: int = 0,
    ) -> SettlementFigures:
        """The batch's figures; `available` is the merchant's, items included."""
        fees = fee_half_up(gross, fee_bps)
        items = gross - refunds - chargebacks - disputes + reinstatements
        net = items - fees
        outside = available - items
        deficit_in = max(0, -outside)
        payout = max(0, net - deficit_in)
        return cls(
            gross=gross,
            refunds=refunds,
            chargebacks=chargebacks,
            fees=fees,
            net=net,
            item_count=item_count,
            deficit_carried_in=deficit_in,
            deficit_carried_out=max(0, -(outside + net - payout)),
            disputes=disputes,
            reinstatements=reinstatements,
        )


class SettlementBatch(Aggregate):
    class Created(Aggregate.Created):
        command_id: str
        actor: str
        batch_id: str
        merchant_account: str
        payout_account: str
        fees_account: str
        currency: str
        fee_bps: int
        gross: int
        refunds: int
        chargebacks: int
        fees: int
        net: int
        item_count: int
        # Defaults: batches stored before deficits (or disputes) load with 0.
        deficit_carried_in: int = 0
        deficit_carried_out: int = 0
        disputes: int = 0
        reinstatements: int = 0

    def __init__(
        self,
        command_id: str,
        actor: str,
        batch_id: str,
        merchant_account: str,
        payout_account: str,
        fees_account: str,
        currency: str,
        fee_bps: int,
        gross: int,
        refunds: int,
        chargebacks: int,
        fees: int,
        net: int,
        item_count: int,
        deficit_carried_in: int = 0,
        deficit_carried_out: int = 0,
        disputes: int = 0,
        reinstatements: int = 0,
    ) -> None:
        self.batch_id = batch_id
        self.merchant_account = merchant_account
        self.payout_account = payout_account
        self.fees_account = fees_account
        self.currency = currency
        self.fee_bps = fee_bps
        self.figures = SettlementFigures(
            gross, refunds, chargebacks, fees, net, item_count,
            deficit_carried_in, deficit_carried_out, disputes, reinstatements,
        )  # fmt: skip

    @classmethod
    def create(
        cls,
        *,
        batch_id: str,
        merchant_account: str,
        payout_account: str,
        fees_account: str,
        currency: str,
        fee_bps: int,
        figures: SettlementFigures,
        command_id: str,
        actor: str,
    ) -> SettlementBatch:
        return cls._create(
            cls.Created,
            id=batch_id_to_uuid(batch_id),
            command_id=command_id,
            actor=actor,
            batch_id=batch_id,
            merchant_account=merchant_account,
            payout_account=payout_account,
            fees_account=fees_account,
            currency=currency,
            fee_bps=fee_bps,
            gross=figures.gross,
            refunds=figures.refunds,
            chargebacks=figures.chargebacks,
            fees=figures.fees,
            net=figures.net,
            item_count=figures.item_count,
            deficit_carried_in=figures.deficit_carried_in,
            deficit_carried_out=figures.deficit_carried_out,
            disputes=figures.disputes,
            reinstatements=figures.reinstatements,
        )
