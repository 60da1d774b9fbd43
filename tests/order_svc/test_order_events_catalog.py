"""The order event catalog: every timeline action OrderService writes has a type of its own,
and docs/order-events.md shows the catalog as the code has it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from order_svc import events
from order_svc.escrow import EntryState

ROOT = Path(__file__).resolve().parents[2]
# The modules that write the order's timeline, and what else their capitals name: error
# reasons (DISPUTE_OPEN) and completion reasons (BUYER_CONFIRMED), not timeline actions.
WRITERS = ("repository.py", "ledger.py", "server.py")
NOT_ACTIONS = {"DISPUTE_OPEN", "BUYER_CONFIRMED", "PROTECTION_EXPIRED"}
ACTION = re.compile(r"^(ORDER|DISPUTE|PROTECTION|ESCROW|REFUND)_[A-Z_]+$")


def written_actions() -> set[str]:
    found: set[str] = set()
    for name in WRITERS:
        for node in ast.walk(ast.parse((ROOT / "order_svc" / name).read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and ACTION.match(node.value):
                found.add(node.value)
            if isinstance(node, ast.JoinedStr) and ast.unparse(node) == "f'REFUND_{state.value}'":
                found |= {f"REFUND_{s.value}" for s in EntryState}
    return found - NOT_ACTIONS


def test_every_written_action_has_its_own_event_type() -> None:
    actions = written_actions()
    assert {"ORDER_CREATED", "REFUND_SETTLED", "PROTECTION_FROZEN", "ESCROW_RELEASED"} <= actions, actions
    untyped = sorted(a for a in actions if events.type_of(a) == events.UPDATED)
    assert untyped == [], f"add these timeline actions to order_svc/events.py: {untyped}"
    listed = {a for t in events.CATALOG.types for a in t.actions}
    assert listed == actions, f"the catalog names actions nobody writes: {sorted(listed - actions)}"
    assert all(t.name.startswith("order.") for t in events.CATALOG.types)


def test_the_docs_show_the_catalog() -> None:
    assert events.markdown() in (ROOT / "docs" / "order-events.md").read_text(), (
        "run `python -m order_svc.events` and paste it into docs/order-events.md"
    )
