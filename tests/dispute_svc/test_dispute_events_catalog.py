"""The event catalog: every timeline action the workflow writes has a type of its own, and the
docs show the catalog as the code has it."""

from __future__ import annotations

import ast
from pathlib import Path

from dispute_svc import events
from dispute_svc.model import PayoutStatus

ROOT = Path(__file__).resolve().parents[2]
# Where each timeline-writing call takes its action: self._log(actor, role, ACTION, ...), etc.
_ACTION_ARG = {"_log": 2, "_escalate": 2, "_flag_deferred": 1}


def workflow_actions() -> set[str]:
    """Every action the workflow's code writes into a timeline, read from its source."""
    found: set[str] = set()
    templated: set[str] = set()
    for path in (ROOT / "dispute_svc").glob("workflow*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            at = _ACTION_ARG.get(node.func.attr)
            if at is None or len(node.args) <= at:
                continue
            arg = node.args[at]
            literals = [
                n.value for n in ast.walk(arg) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            ]
            if isinstance(arg, (ast.Constant, ast.IfExp)) and literals:
                found |= set(literals)
            else:
                templated.add(ast.unparse(arg))
    # The refund poll logs REFUND_<status> for each status RefundService reports; a seller's
    # response is logged by its kind; _flag_deferred is called with its action's name.
    assert templated == {"f'REFUND_{status}'", "kind", "action"}, templated
    reported = {
        f"REFUND_{p.value}" for p in PayoutStatus if p.value and p.value not in ("REFUSED", "ABANDONED")
    }
    return found | reported | {"COUNTER_OFFER", "REJECT"}


def test_every_workflow_action_has_its_own_event_type() -> None:
    actions = workflow_actions()
    assert len(actions) > 30, actions  # the scan found the workflow's actions, not nothing
    untyped = sorted(a for a in actions if events.type_of(a) == events.UPDATED)
    assert untyped == [], f"add these timeline actions to dispute_svc/events.py CATALOG: {untyped}"


def test_catalog_names_each_action_once_and_only_known_ones() -> None:
    listed = [a for t in events.CATALOG.types for a in t.actions]
    assert len(listed) == len(set(listed))
    # The review flag is DisputeService's own team-only event, written at opening (outbox.py).
    stale = set(listed) - workflow_actions() - {events.BUYER_FLAGGED}
    assert stale == set(), f"the catalog names actions the workflow no longer writes: {stale}"
    assert all(t.name.startswith("dispute.") for t in events.CATALOG.types)


def test_docs_show_the_catalog_as_it_is() -> None:
    assert events.markdown() in (ROOT / "docs" / "events.md").read_text(), (
        "run `python -m dispute_svc.events` and paste it into docs/events.md"
    )
