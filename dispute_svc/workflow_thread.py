"""The thread's one workflow action: files a message names join the dispute's evidence.

The message itself never enters the workflow (DisputeService keeps threads, dispute_svc/threads.py);
only the evidence ids do, because binding files to the dispute and sealing them on escalation
is the workflow's job. The dispute keeps at most EvidenceService's per-dispute totals of files,
so this cannot grow the state without bound.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from dispute_svc.model import DisputeView, EvidenceAddition, Party
    from dispute_svc.rules import check_evidence, check_may_message
    from platform_common.refusals import Refusal, refuse

# Workflow code: imported inside the sandbox, like this module (not passed through).
from dispute_svc.workflow_core import DisputeCore


class ThreadHandlers(DisputeCore):
    @workflow.update
    def add_evidence(self, a: EvidenceAddition) -> DisputeView:
        self._updates += 1
        self._add_evidence(a.evidence_ids)
        self.s.updated_at = self._now()
        self.s.revision += 1
        self._changed += 1
        return self.view()

    @add_evidence.validator
    def _check_add_evidence(self, a: EvidenceAddition) -> None:
        party = {Party.BUYER: self._inp.buyer_id, Party.SELLER: self._inp.seller_id}
        if a.caller_role not in party or party[Party(a.caller_role)] != a.caller_id:
            raise refuse("only the dispute's buyer or seller adds files to it", Refusal.PERMISSION_DENIED)
        check_may_message(self.s.status, a.caller_role, bool(self.s.escalated_at))
        check_evidence(a.evidence_ids, required=True)
