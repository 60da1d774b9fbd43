"""The order's escrow ledger: where every minor unit of the payment is, at every moment.

The platform takes the buyer's payment into escrow (`paid`). From there money leaves in two ways
only: to the buyer as a refund, or to the seller as a release when the order completes. A refund
that arrives after the release (a dispute within the completion grace) is paid to the buyer and
recovered from the seller. So, always and exactly:

    paid = held + refunded + released - recovered

with `held` what the platform still holds. Rules that keep anybody from being paid twice:
- completion releases only what no refund claims: the unclaimed part of escrow, `held - covered
  pending`, where covered pending are refunds registered while escrow held their amount and not
  settled yet (they keep their amount in escrow);
- a refund registered when escrow no longer holds its amount (after the release) is uncovered:
  its settlement is a recovery from the seller (less whatever escrow still held unclaimed, which
  is released against it in the same step, so the seller never owes more than it received);
- a pending refund that fails for good gives its amount back to escrow; once the order has
  completed it goes on to the seller, unless a dispute holds the order (then it stays in escrow
  until the dispute ends, and may cover what the dispute refunds);
- the whole payment refunded means the seller keeps nothing and the order ends REFUNDED.

Pure functions over immutable values (no I/O), so the invariant is property-tested directly.
RefundService owns the rule "refunds never exceed what was paid"; registering a refund here
re-checks it only as a guard against a bug upstream.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from platform_common.errors import FailedPrecondition


class EntryKind(enum.StrEnum):
    REFUND = "REFUND"
    # A PAID order cancelled before shipment: what escrow held goes back to the buyer.
    CANCELLATION = "CANCELLATION"


class EntryState(enum.StrEnum):
    PENDING = "PENDING"
    SETTLED = "SETTLED"
    CANCELLED = "CANCELLED"


CANCELLATION_KEY = "cancellation"


class EscrowConflict(FailedPrecondition):
    """A ledger movement that contradicts what the ledger already holds."""


@dataclass(frozen=True)
class Entry:
    key: str  # the refund id, or CANCELLATION_KEY
    kind: EntryKind
    amount: int
    state: EntryState
    # Registered while escrow still held the order's funds (before the release): its amount is
    # kept in escrow while it is pending. An uncovered refund is recovered from the seller.
    covered: bool


@dataclass(frozen=True)
class Ledger:
    paid: int
    released: int = 0
    entries: tuple[Entry, ...] = ()
    # The order has completed (or was cancelled): escrow let go of what no refund claimed.
    closed: bool = False

    def _sum(self, state: EntryState, covered: bool | None = None) -> int:
        return sum(
            e.amount for e in self.entries if e.state is state and (covered is None or e.covered is covered)
        )

    @property
    def refunded(self) -> int:
        """Paid back to the buyer (refunds settled, a cancellation)."""
        return self._sum(EntryState.SETTLED)

    @property
    def pending(self) -> int:
        """Refunds registered and not settled yet."""
        return self._sum(EntryState.PENDING)

    @property
    def recovered(self) -> int:
        """Refunds paid after the release: taken back from the seller."""
        return self._sum(EntryState.SETTLED, covered=False)

    @property
    def held(self) -> int:
        return self.paid - self.refunded - self.released + self.recovered

    @property
    def unclaimed(self) -> int:
        """What escrow holds that no pending refund claims."""
        return self.held - self._sum(EntryState.PENDING, covered=True)

    @property
    def seller_net(self) -> int:
        return self.released - self.recovered

    @property
    def fully_refunded(self) -> bool:
        return self.refunded == self.paid

    def entry(self, key: str) -> Entry | None:
        return next((e for e in self.entries if e.key == key), None)

    def check(self, held_open: bool = False) -> None:
        """The invariants; a violation is a bug, never a caller's mistake. `held_open`: a
        dispute holds the order (a closed ledger may then keep unclaimed money)."""
        assert self.refunded + self.pending <= self.paid, self
        assert self.unclaimed >= 0 and self._sum(EntryState.PENDING, covered=True) >= 0, self
        assert self.seller_net >= 0, self
        assert not self.closed or held_open or self.unclaimed == 0, self


def _with(ledger: Ledger, entry: Entry) -> Ledger:
    rest = tuple(e for e in ledger.entries if e.key != entry.key)
    return replace(ledger, entries=(*rest, entry))


def register(ledger: Ledger, key: str, amount: int) -> Ledger:
    """A refund was issued: it is pending, and (before the release) keeps its amount in escrow."""
    existing = ledger.entry(key)
    if existing is not None:
        if existing.amount != amount:
            raise EscrowConflict(f"refund {key} is recorded for {existing.amount}, not {amount}")
        return ledger  # repeated: nothing changes
    if amount <= 0:
        raise EscrowConflict("a refund moves a positive amount")
    if ledger.refunded + ledger.pending + amount > ledger.paid:
        raise EscrowConflict(
            f"refunds would exceed the amount paid ({ledger.refunded + ledger.pending + amount} > {ledger.paid})"
        )
    entry = Entry(key, EntryKind.REFUND, amount, EntryState.PENDING, covered=amount <= ledger.unclaimed)
    return _with(ledger, entry)


def settle(ledger: Ledger, key: str, amount: int) -> Ledger:
    """The refund reached the buyer. Uncovered (after the release): recovered from the seller."""
    current = register(ledger, key, amount)  # a settlement may overtake its registration
    entry = current.entry(key)
    assert entry is not None
    if entry.state is EntryState.SETTLED:
        return current
    if entry.state is EntryState.CANCELLED:
        raise EscrowConflict(f"refund {key} was recorded as failed for good; it cannot settle")
    settled = _with(current, replace(entry, state=EntryState.SETTLED))
    if entry.covered or not current.closed:
        return settled
    # Uncovered, after the release: recovered from the seller, less what escrow still held for
    # nobody (money a failed refund freed while a dispute held the order). That money is released
    # to the seller in the same step, so the recovery takes back only what the seller really got.
    offset = min(current.unclaimed, amount)
    return replace(settled, released=settled.released + offset) if offset else settled


def cancel(ledger: Ledger, key: str, amount: int, held_open: bool = False) -> Ledger:
    """The refund failed for good: no money moved. Its amount stays in escrow, or goes to the
    seller if the order has completed meanwhile (it was only held back for this refund), unless
    a dispute holds the order (`held_open`): then it waits in escrow for the dispute's end."""
    entry = ledger.entry(key)
    if entry is None:  # it never reached the ledger as pending: record that it failed
        entry = Entry(key, EntryKind.REFUND, amount, EntryState.CANCELLED, covered=False)
        return _with(ledger, entry)
    if entry.amount != amount:
        raise EscrowConflict(f"refund {key} is recorded for {entry.amount}, not {amount}")
    if entry.state is EntryState.CANCELLED:
        return ledger
    if entry.state is EntryState.SETTLED:
        raise EscrowConflict(f"refund {key} has settled; it cannot fail any more")
    cancelled = _with(ledger, replace(entry, state=EntryState.CANCELLED))
    if entry.covered and ledger.closed and not held_open:
        return replace(cancelled, released=ledger.released + amount)
    return cancelled


def release(ledger: Ledger) -> tuple[Ledger, int]:
    """The order completes: everything escrow holds that no pending refund claims goes to the
    seller. Returns the ledger and the amount released now."""
    if ledger.closed:
        return ledger, 0
    amount = ledger.unclaimed
    return replace(ledger, released=ledger.released + amount, closed=True), amount


def release_unclaimed(ledger: Ledger) -> tuple[Ledger, int]:
    """The last dispute holding a completed order ended: what it kept in escrow (refunds that
    failed meanwhile) goes to the seller."""
    if not ledger.closed or ledger.unclaimed == 0:
        return ledger, 0
    amount = ledger.unclaimed
    return replace(ledger, released=ledger.released + amount), amount


def cancel_order(ledger: Ledger) -> tuple[Ledger, int]:
    """A PAID order is cancelled: what escrow holds goes back to the buyer. Refunds still pending
    must settle first (the caller refuses the cancellation meanwhile)."""
    if ledger.pending:
        raise EscrowConflict("a refund of this order is still in progress")
    amount = ledger.held
    entry = Entry(CANCELLATION_KEY, EntryKind.CANCELLATION, amount, EntryState.SETTLED, covered=True)
    done = replace(ledger, closed=True)
    return (_with(done, entry) if amount else done), amount
