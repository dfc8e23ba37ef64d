"""SettlementBatch: one settlement of a merchant's unsettled items.

fees = (gross × fee_bps + 5000) div 10000 (half-up); net = gross − refunds −
chargebacks − fees. The postings happen on the accounts; this records the figures.
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

    @classmethod
    def compute(
        cls, *, gross: int, refunds: int, chargebacks: int, item_count: int, fee_bps: int
    ) -> SettlementFigures:
        fees = fee_half_up(gross, fee_bps)
        return cls(
            gross=gross,
            refunds=refunds,
            chargebacks=chargebacks,
            fees=fees,
            net=gross - refunds - chargebacks - fees,
            item_count=item_count,
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
    ) -> None:
        self.batch_id = batch_id
        self.merchant_account = merchant_account
        self.payout_account = payout_account
        self.fees_account = fees_account
        self.currency = currency
        self.fee_bps = fee_bps
        self.figures = SettlementFigures(gross, refunds, chargebacks, fees, net, item_count)

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
        )
