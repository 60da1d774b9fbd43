"""The order's escrow ledger (order_svc/escrow.py) under every order of events.

A property test drives the ledger with random sequences of refunds (registered, settled, failed,
reported in any order), one completion and duplicates, and follows the money with its own,
independent model: a cash box for escrow and a purse each for buyer and seller. After every
step the ledger must agree with the model; at the end every unit is with exactly one party, and
the seller never keeps money that was refunded to the buyer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from order_svc import escrow
from order_svc.escrow import EntryState, EscrowConflict, Ledger


@dataclass
class Money:
    """Where the cash is, moved by the test's own reading of the rules."""

    paid: int
    box: int = 0
    buyer: int = 0
    seller: int = 0
    released: bool = False
    held_open: bool = False  # a dispute holds the order
    # Refund key -> (amount, its amount was in the box when it was registered, state).
    refunds: dict[str, tuple[int, bool, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.box = self.paid

    def committed(self) -> int:
        return sum(a for a, _, st_ in self.refunds.values() if st_ != "CANCELLED") + (
            self.buyer - sum(a for a, _, st_ in self.refunds.values() if st_ == "SETTLED")
        )

    def claimed(self) -> int:
        """Box money pending refunds are waiting for."""
        return sum(a for a, cov, s in self.refunds.values() if s == "PENDING" and cov)


Step = tuple[str, int, int]  # (operation, refund number, amount)
OPS = [
    "register",
    "settle",
    "cancel",
    "complete",
    "register",
    "settle",
    "hold",
    "unhold",
    "cancel_order",
    "odd",
]


def steps(paid: int) -> st.SearchStrategy[list[Step]]:
    return st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 5), st.integers(1, paid)), max_size=30)


def apply(ledger: Ledger, model: Money, step: Step) -> Ledger:
    name, n, amount = step
    key = f"refund-{n}"
    known = model.refunds.get(key)
    if name == "hold":
        model.held_open = True
        return ledger
    if name == "unhold":
        model.held_open = False
        after, released = escrow.release_unclaimed(ledger)
        if model.released:
            expected = model.box - model.claimed()
            assert released == expected
            model.box -= expected
            model.seller += expected
        else:
            assert released == 0
        return after
    if name == "complete":
        after, released = escrow.release(ledger)
        if not model.released:
            expected = model.box - model.claimed()
            assert released == expected
            model.box -= expected
            model.seller += expected
            model.released = True
        else:
            assert released == 0
        return after
    if name == "cancel_order":
        pending = any(s == "PENDING" for _, _, s in model.refunds.values())
        if pending:
            with pytest.raises(EscrowConflict):
                escrow.cancel_order(ledger)
            return ledger
        if model.released:
            return ledger  # only PAID (never released) orders are cancelled; the store refuses others
        after, returned = escrow.cancel_order(ledger)
        assert returned == model.box
        model.buyer += model.box
        model.box = 0
        model.released = True  # closed: nothing more is held back
        return after
    if name == "odd" and known is not None:  # a report about a known refund with another amount
        with pytest.raises(EscrowConflict):
            escrow.settle(ledger, key, known[0] + 1)
        return ledger
    if name == "odd":
        name = "register"
    if known is not None:
        amount = known[0]  # a report about a known refund carries its amount
    new = known is None
    if new and model.committed() + amount > model.paid and name != "cancel":
        with pytest.raises(EscrowConflict):
            {"register": escrow.register, "settle": escrow.settle}[name](ledger, key, amount)
        return ledger
    covered_now = model.box - model.claimed() >= amount
    if name == "register":
        after = escrow.register(ledger, key, amount)
        if new:
            model.refunds[key] = (amount, covered_now, "PENDING")
        return after
    if name == "settle":
        if known is not None and known[2] == "CANCELLED":
            with pytest.raises(EscrowConflict):
                escrow.settle(ledger, key, amount)
            return ledger
        after = escrow.settle(ledger, key, amount)
        amount_, covered, state = known or (amount, covered_now, "PENDING")
        if state != "SETTLED":
            model.refunds[key] = (amount_, covered, "SETTLED")
            model.buyer += amount_
            if covered:
                model.box -= amount_  # it was held for this refund
            else:
                # The box did not hold it for this refund: what the box still holds for nobody
                # (freed under a dispute's hold) pays first, the rest is recovered from the seller.
                offset = min(model.box - model.claimed(), amount_) if model.released else 0
                model.box -= offset
                model.seller -= amount_ - offset
        return after
    # cancel: the refund failed for good, no money moved
    if known is not None and known[2] == "SETTLED":
        with pytest.raises(EscrowConflict):
            escrow.cancel(ledger, key, amount, model.held_open)
        return ledger
    after = escrow.cancel(ledger, key, amount, model.held_open)
    amount_, covered, state = known or (amount, False, "PENDING")
    if state == "PENDING" and known is not None and covered and model.released and not model.held_open:
        model.box -= amount_  # it was only held back for this refund: the seller gets it now
        model.seller += amount_
    model.refunds[key] = (amount_, covered, "CANCELLED")
    return after


def agree(ledger: Ledger, model: Money) -> None:
    ledger.check(held_open=model.held_open)
    assert ledger.held == model.box >= 0
    assert ledger.refunded == model.buyer
    assert ledger.seller_net == model.seller >= 0
    assert ledger.unclaimed == model.box - model.claimed() >= 0
    assert model.box + model.buyer + model.seller == model.paid  # every unit with exactly one party


@settings(max_examples=600, deadline=None)
@given(paid=st.integers(1, 10_000), data=st.data())
def test_every_order_of_events_keeps_the_ledger_exact(paid: int, data: st.DataObject) -> None:
    ledger, model = Ledger(paid=paid), Money(paid)
    for step in data.draw(steps(paid)):
        ledger = apply(ledger, model, step)
        agree(ledger, model)
    # Then everything resolves: pending refunds settle or fail, the order completes.
    for key, (amount, _, state) in list(model.refunds.items()):
        if state == "PENDING":
            ledger = apply(
                ledger, model, (data.draw(st.sampled_from(["settle", "cancel"])), int(key[7:]), amount)
            )
            agree(ledger, model)
    for final in ("complete", "unhold"):  # the order completes, the last dispute ends
        ledger = apply(ledger, model, (final, 0, 1))
        agree(ledger, model)
    assert ledger.held == 0 and ledger.pending == 0
    # The seller keeps exactly what was not refunded to the buyer.
    assert ledger.seller_net == paid - ledger.refunded
    assert ledger.fully_refunded == (ledger.refunded == paid)


def test_a_recovery_takes_back_only_what_the_seller_got() -> None:
    """Found by the property test above: a refund failed while a dispute held the completed order
    (its amount stayed in escrow), then the dispute refunded more than escrow still held. The
    seller must be charged only the difference, never left owing more than it received."""
    ledger = escrow.register(Ledger(paid=2), "refund-1", 1)
    ledger, released = escrow.release(ledger)  # completes: 1 to the seller, 1 held for refund-1
    assert released == 1
    ledger = escrow.cancel(ledger, "refund-1", 1, held_open=True)  # kept in escrow under the hold
    ledger = escrow.settle(escrow.register(ledger, "refund-0", 2), "refund-0", 2)  # the dispute's full refund
    ledger.check(held_open=True)
    assert (ledger.refunded, ledger.held, ledger.seller_net) == (2, 0, 0)
    assert ledger.recovered - (ledger.released - 1) == 1  # net, 1 came back from the seller


def test_a_full_refund_leaves_nothing_to_release() -> None:
    """The reported defect: a dispute refunded 100%, then the window ended and escrow went to
    the seller as well."""
    ledger = escrow.settle(escrow.register(Ledger(paid=4_000), "r1", 4_000), "r1", 4_000)
    done, released = escrow.release(ledger)
    assert released == 0 and done.held == 0 and done.seller_net == 0 and done.fully_refunded


def test_a_pending_refund_is_held_back_and_released_if_it_fails() -> None:
    ledger = escrow.register(Ledger(paid=10_000), "r1", 3_000)
    done, released = escrow.release(ledger)
    assert released == 7_000 and done.held == 3_000
    failed = escrow.cancel(done, "r1", 3_000)
    assert failed.held == 0 and failed.released == 10_000 and failed.seller_net == 10_000


def test_money_a_failed_refund_frees_waits_while_a_dispute_holds_the_order() -> None:
    """Completed with 3,000 held back; a dispute opens within the grace; the held-back refund
    fails: the 3,000 stay in escrow and cover the dispute's refund, the rest goes to the seller
    when the dispute ends. Nothing is released and then recovered."""
    done, _ = escrow.release(escrow.register(Ledger(paid=10_000), "r1", 3_000))
    failed = escrow.cancel(done, "r1", 3_000, held_open=True)
    assert failed.held == 3_000 and failed.unclaimed == 3_000 and failed.released == 7_000
    award = escrow.settle(escrow.register(failed, "r2", 2_000), "r2", 2_000)
    assert award.recovered == 0 and award.held == 1_000  # covered by what escrow still held
    ended, rest = escrow.release_unclaimed(award)
    assert rest == 1_000 and ended.held == 0 and ended.seller_net == 8_000


def test_a_refund_after_the_release_is_recovered_from_the_seller() -> None:
    done, _ = escrow.release(Ledger(paid=10_000))
    refunded = escrow.settle(escrow.register(done, "r1", 2_500), "r1", 2_500)
    assert refunded.recovered == 2_500 and refunded.seller_net == 7_500 and refunded.held == 0


def test_a_settlement_may_overtake_its_registration() -> None:
    direct = escrow.settle(Ledger(paid=5_000), "r1", 1_000)
    in_order = escrow.settle(escrow.register(Ledger(paid=5_000), "r1", 1_000), "r1", 1_000)
    assert direct == in_order


@pytest.mark.parametrize("op", [escrow.register, escrow.settle, escrow.cancel])
def test_reports_are_idempotent(op: object) -> None:
    ledger = escrow.register(Ledger(paid=5_000), "r1", 1_000)
    once = op(ledger, "r1", 1_000)  # type: ignore[operator]
    assert op(once, "r1", 1_000) == once  # type: ignore[operator]


def test_refunds_never_exceed_what_was_paid() -> None:
    ledger = escrow.register(Ledger(paid=5_000), "r1", 4_000)
    with pytest.raises(EscrowConflict):
        escrow.register(ledger, "r2", 1_001)
    with pytest.raises(EscrowConflict):
        escrow.register(ledger, "r1", 3_999)  # the same refund with another amount


def test_cancelling_an_order_returns_what_escrow_holds() -> None:
    ledger = escrow.settle(Ledger(paid=5_000), "r1", 1_000)
    cancelled, returned = escrow.cancel_order(ledger)
    assert returned == 4_000 and cancelled.fully_refunded and cancelled.held == 0
    with pytest.raises(EscrowConflict):
        escrow.cancel_order(escrow.register(Ledger(paid=5_000), "r2", 1))
    assert [e.state for e in cancelled.entries] == [EntryState.SETTLED, EntryState.SETTLED]
