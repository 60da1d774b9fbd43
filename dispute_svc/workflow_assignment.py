"""Who works a dispute under arbitration: an arbiter claims it or gives it back, a lead hands it
to another arbiter. Validated updates like every action.

Claims are atomic because a workflow runs one update handler at a time, and each handler here
is plain (no await): of two claims sent at once, the second one's validator already sees the
first one's arbiter. Acting on an unassigned dispute (an information request, a decision)
still assigns it too, as before claims existed. The appeal rule is the same check everywhere:
the arbiter of the appealed decision never gets the appeal, by claim, reassignment or action.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from dispute_svc.model import ARBITRATING, Assignment, DisputeStatus, DisputeView, Party
    from dispute_svc.rules import check_text
    from platform_common.refusals import Refusal, refuse

# Workflow code: imported inside the sandbox, like this module (not passed through).
from dispute_svc.workflow_core import Window
from dispute_svc.workflow_outcomes import DisputeOutcomes

# dp-error-reason of the refusals callers branch on.
ALREADY_ASSIGNED = "ALREADY_ASSIGNED"
APPEAL_NEEDS_ANOTHER_ARBITER = "APPEAL_NEEDS_ANOTHER_ARBITER"


class AssignmentHandlers(DisputeOutcomes):
    def _not_the_appealed_arbiter(self, arbiter_id: str, who: str) -> None:
        s = self.s
        if s.status == DisputeStatus.APPEALED and arbiter_id == s.excluded_arbiter:
            raise refuse(
                f"{who} decided the appealed decision; a different arbiter decides the appeal",
                Refusal.PERMISSION_DENIED,
                APPEAL_NEEDS_ANOTHER_ARBITER,
            )

    @workflow.update
    def claim(self, a: Assignment) -> DisputeView:
        self._updates += 1
        if self.s.arbiter_id != a.caller_id:  # claiming one's own dispute again changes nothing
            self.s.arbiter_id = a.caller_id
            self._log(a.caller_id, Party.ARBITER, "CLAIMED", f"claimed by arbiter {a.caller_id}")
        return self.view()

    def _may_claim(self, arbiter_id: str) -> Window:
        """An arbiter, on a dispute waiting for arbitration that nobody else holds (on appeal,
        not the arbiter of the appealed decision)."""
        self._require_status(ARBITRATING, "only a dispute under arbitration can be claimed")
        self._not_the_appealed_arbiter(arbiter_id, "you")
        self._require_not_a_party(arbiter_id, "you")
        held = self.s.arbiter_id
        if held and held != arbiter_id:
            raise refuse(f"the dispute is assigned to arbiter {held}", reason=ALREADY_ASSIGNED)
        return Window()

    @claim.validator
    def _check_claim(self, a: Assignment) -> None:
        self._may_claim(a.caller_id)

    @workflow.update
    def release(self, a: Assignment) -> DisputeView:
        self._updates += 1
        self.s.arbiter_id = ""
        # The note is the arbitration team's (DisputeService keeps it as an internal note): the
        # timeline reaches the parties.
        self._log(
            a.caller_id,
            Party.ARBITER,
            "RELEASED",
            f"arbiter {a.caller_id} gave the dispute back to the queue",
        )
        return self.view()

    def _may_release(self, arbiter_id: str) -> Window:
        """The arbiter the dispute is assigned to, while it is under arbitration."""
        self._require_status(ARBITRATING, "only a dispute under arbitration can be released")
        held = self.s.arbiter_id
        self._require(bool(held), "the dispute is not assigned to anyone")
        self._require(
            held == arbiter_id, f"the dispute is assigned to arbiter {held}", Refusal.PERMISSION_DENIED
        )
        return Window()

    @release.validator
    def _check_release(self, a: Assignment) -> None:
        self._may_release(a.caller_id)
        check_text(a.note, "note")

    @workflow.update
    def reassign(self, a: Assignment) -> DisputeView:
        self._updates += 1
        before, self.s.arbiter_id = self.s.arbiter_id, a.arbiter_id
        moved = f"from {before or 'the queue'} to {a.arbiter_id or 'the queue'}"
        self._log(a.caller_id, Party.ARBITER_LEAD, "REASSIGNED", moved)  # the reason: see release
        return self.view()

    def _may_reassign(self, lead_id: str) -> Window:
        """A lead, while the dispute is under arbitration."""
        self._require_status(ARBITRATING, "only a dispute under arbitration can be reassigned")
        self._require_not_a_party(lead_id, "you")
        return Window()

    @reassign.validator
    def _check_reassign(self, a: Assignment) -> None:
        self._may_reassign(a.caller_id)
        check_text(a.note, "reason", required=True)
        self._not_the_appealed_arbiter(a.arbiter_id, f"arbiter {a.arbiter_id}")
        self._require_not_a_party(a.arbiter_id, f"arbiter {a.arbiter_id}")
        self._require(
            a.arbiter_id != self.s.arbiter_id,
            f"the dispute is already {'with arbiter ' + a.arbiter_id if a.arbiter_id else 'unassigned'}",
        )
