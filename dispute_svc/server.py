"""DisputeService: a thin gRPC facade over DisputeWorkflow plus the read model behind ListDisputes.

Every user action is a Workflow Update whose validator decides (party, state, input): the
service only authenticates, parses the API messages, attaches evidence through EvidenceService
and maps refusals to status codes. Opening is checked here against OrderService and the
openings register, then started with update-with-start keyed by the caller's request id.
"""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from disputes.v1 import disputes_pb2 as pb
from disputes.v1 import disputes_pb2_grpc

from dispute_svc import requests as rq
from dispute_svc.client import DisputeClient, WebhookClient
from dispute_svc.model import CLOSED, ActionCaller, AllowedAction, Party
from dispute_svc.opener import Opener
from dispute_svc.peers import Peers
from dispute_svc.policy import Policy
from dispute_svc.repository import DisputeRepository, Recorded
from dispute_svc.server_arbitration import ArbitrationApi
from dispute_svc.server_events import EventsApi
from dispute_svc.server_webhooks import WebhooksApi
from dispute_svc.views import as_of, render, render_actions
from dispute_svc.webhooks import Deliveries, allow_local
from dispute_svc.workflow import DisputeWorkflow
from platform_common import access
from platform_common.auth import ACCOUNT_ID_MAX_CHARS, DISPUTE_API, Caller, Role, current_caller
from platform_common.enums import name_of, parse
from platform_common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from platform_common.feeds import HeadWatcher, WatchSlots
from platform_common.paging import page_size
from platform_common.server import MethodRoles
from platform_common.timestamps import to_timestamp
from platform_common.validate import require_timestamp, require_uuid

SERVICE_NAME = DISPUTE_API
METHOD_ROLES: MethodRoles = access.DISPUTES
# GetDispute reads the workflow for at most this long (or half the caller's deadline) before it
# answers from the read model: a query waits for a worker, and the worker may be down.
QUERY_PATIENCE_S = 1.0
# How long party signals wait for OrderService's order counts (then shown as unknown).
ORDER_COUNT_PATIENCE_S = 2.0
_PARTY_OF = {Role.BUYER: Party.BUYER, Role.SELLER: Party.SELLER, Role.ARBITER: Party.ARBITER}
# Who asks the workflow what they may do: the token's role and id, as the actions are sent.
_ASKING_AS = {**_PARTY_OF, Role.ARBITER_LEAD: Party.ARBITER_LEAD, Role.SERVICE: Party.SERVICE}
ARBITRATION_TEAM = rq.ARBITRATION_TEAM


def _may_read(caller: Caller, buyer_id: str, seller_id: str, escalated: bool) -> bool:
    """The dispute's parties (role and id together), arbiters and leads once it was escalated,
    services."""
    if caller.role is Role.BUYER:
        return caller.is_(Role.BUYER, buyer_id)
    if caller.role is Role.SELLER:
        return caller.is_(Role.SELLER, seller_id)
    if caller.role in ARBITRATION_TEAM:
        return escalated
    return caller.role is Role.SERVICE


def _patience(context: grpc.aio.ServicerContext, most: float = QUERY_PATIENCE_S) -> float:
    """How long a call made for this one may wait: `most`, or half of what the caller's
    deadline leaves if that is less."""
    remaining = context.time_remaining()
    return most if remaining is None else max(0.05, min(most, remaining / 2))


class DisputeService(ArbitrationApi, EventsApi, WebhooksApi, disputes_pb2_grpc.DisputeServiceServicer):
    @property
    def opener(self) -> Opener:
        return self._opener

    def __init__(
        self,
        repo: DisputeRepository,
        workflows: DisputeClient,
        peers: Peers,
        policy: Policy,
        hooks: WebhookClient | None = None,
    ) -> None:
        self._repo = repo
        self._workflows = workflows
        self._peers = peers
        self._policy = policy
        self._opener = Opener(repo, workflows, peers, policy)
        # The disputes known to be escalated (escalation is never undone), which arbiters may act on.
        self._escalated: dict[str, tuple[str, str]] = {}  # escalated disputes' (buyer, seller)
        self._head = HeadWatcher(repo.head)
        self._slots = WatchSlots()
        self._hooks = hooks or WebhookClient(workflows.temporal)
        self._deliveries = Deliveries(repo, self._head, peers, allow_local())

    # --- opening -------------------------------------------------------------------------------

    async def OpenDispute(
        self, request: pb.OpenDisputeRequest, context: grpc.aio.ServicerContext
    ) -> pb.OpenDisputeResponse:
        return pb.OpenDisputeResponse(dispute=await self._opener.open(request, current_caller()))

    async def CheckDisputeEligibility(
        self, request: pb.CheckDisputeEligibilityRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckDisputeEligibilityResponse:
        e = await self._opener.eligibility(require_uuid(request.order_id, "order_id"), current_caller())
        return pb.CheckDisputeEligibilityResponse(
            eligible=not e.reason,
            reason=e.reason,
            message=e.message,
            window_opens_at=to_timestamp(e.opens_at),
            window_closes_at=to_timestamp(e.closes_at),
            remaining_attempts=e.remaining_attempts,
        )

    # --- reads ---------------------------------------------------------------------------------

    async def GetDispute(
        self, request: pb.GetDisputeRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetDisputeResponse:
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        caller = current_caller()
        actions: list[AllowedAction] | None = None  # unknown unless the workflow answers
        try:
            asking = ActionCaller(_ASKING_AS[caller.role], caller.id)
            view, actions = await self._workflows.view_for(dispute_id, asking, _patience(context))
            dispute = render(view)
        except (NotFound, Unavailable) as exc:
            # Closed long ago, or its worker (or Temporal) cannot answer now: the read model.
            stored = await self._repo.get(dispute_id)
            if stored is None:
                if isinstance(exc, Unavailable):
                    raise Unavailable(f"dispute {dispute_id} cannot be read right now; retry") from None
                raise NotFound(f"dispute {dispute_id} not found") from None
            dispute = stored
        if not _may_read(caller, dispute.buyer_id, dispute.seller_id, dispute.HasField("escalated_at")):
            raise PermissionDenied(f"dispute {dispute_id} is not yours")
        rq.not_their_own(caller, dispute.buyer_id, dispute.seller_id)
        count = await self._with_thread(dispute, current_caller())
        # The parties' history is for the arbitration team alone.
        signals = (
            await self._party_signals(dispute, _patience(context, ORDER_COUNT_PATIENCE_S))
            if caller.role in ARBITRATION_TEAM
            else None
        )
        return pb.GetDisputeResponse(
            dispute=dispute,
            allowed_actions=render_actions(as_of(actions or [], datetime.now(UTC))),
            allowed_actions_known=actions is not None,
            message_count=count,
            party_signals=signals,
        )

    async def _arbiter_may_act(self, dispute_id: str) -> None:
        """Arbiters act on escalated disputes only, and never on one they are a party to; nothing
        about another dispute (not even its currency or amount paid, from a parse error) reaches
        them."""
        parties = self._escalated.get(dispute_id)
        if parties is None:
            view = await self._workflows.view(dispute_id)
            if not view.state.escalated_at:
                raise PermissionDenied(f"dispute {dispute_id} is not under arbitration")
            parties = self._escalated[dispute_id] = (view.buyer_id, view.seller_id)
        rq.not_their_own(current_caller(), *parties)

    async def ListDisputes(
        self, request: pb.ListDisputesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDisputesResponse:
        caller = current_caller()
        buyer_id, seller_id = request.buyer_id, request.seller_id
        for name, value in (("buyer_id", buyer_id), ("seller_id", seller_id)):
            if len(value) > ACCOUNT_ID_MAX_CHARS:
                raise InvalidArgument(f"{name} must be at most {ACCOUNT_ID_MAX_CHARS} characters")
        if caller.role is Role.BUYER:
            if buyer_id not in ("", caller.id) or seller_id:
                raise PermissionDenied("buyers list only their own disputes (buyer_id = yourself)")
            buyer_id = caller.id
        if caller.role is Role.SELLER:
            if seller_id not in ("", caller.id) or buyer_id:
                raise PermissionDenied("sellers list only their own disputes (seller_id = yourself)")
            seller_id = caller.id
        status = ""
        if request.status:
            status = parse(pb.DisputeStatus, request.status, "status")
        order_id = require_uuid(request.order_id, "order_id") if request.order_id else ""
        size = page_size(request.page.page_size)
        disputes, token = await self._repo.search(
            buyer_id=buyer_id,
            seller_id=seller_id,
            status=status,
            order_id=order_id,
            size=size,
            token=request.page.page_token,
            escalated_only=caller.role in ARBITRATION_TEAM,  # they see escalated disputes only
        )
        return pb.ListDisputesResponse(disputes=disputes, next_page_token=token)

    # --- actions -------------------------------------------------------------------------------

    async def _act(self, dispute_id: str, update: object, arg: object) -> pb.Dispute:
        try:
            view = await self._workflows.act(dispute_id, update, arg)
        except NotFound:
            stored = await self._repo.get(dispute_id)
            escalated = stored is not None and stored.HasField("escalated_at")
            if stored is not None and not _may_read(
                current_caller(), stored.buyer_id, stored.seller_id, escalated
            ):
                raise PermissionDenied(f"dispute {dispute_id} is not yours") from None
            if stored is not None and name_of(pb.DisputeStatus, stored.status) in CLOSED:
                raise FailedPrecondition(
                    f"dispute {dispute_id} is closed ({pb.DisputeStatus.Name(stored.status)})"
                ) from None
            raise
        return render(view)

    async def _facts_of(self, dispute_id: str) -> rq.Facts:
        """The dispute's fixed facts (parties, amount paid), only for one of its parties or an
        arbiter: nobody else learns the amount paid from an error message, or attaches files to
        the dispute. Read from this service's own read model; the workflow's first record lands
        there a moment after opening, and until it has, the workflow itself answers."""
        recorded = await self._repo.get(dispute_id)
        if recorded is not None:
            paid = recorded.paid_amount
            facts = rq.Facts(
                recorded.order_id, recorded.buyer_id, recorded.seller_id, paid.minor_units, paid.currency
            )
        else:
            view = await self._workflows.view(dispute_id)
            facts = rq.Facts(view.order_id, view.buyer_id, view.seller_id, view.paid_minor, view.currency)
        caller = current_caller()
        if caller.role is Role.ARBITER:
            await self._arbiter_may_act(dispute_id)
            return facts
        if caller.is_(Role.BUYER, facts.buyer_id) or caller.is_(Role.SELLER, facts.seller_id):
            return facts
        raise PermissionDenied(f"dispute {dispute_id} is not yours")

    async def _attach(self, dispute_id: str, evidence_ids: list[str]) -> None:
        """Dry-run the files for the calling party: it may attach only its own side's files."""
        if evidence_ids:
            facts = await self._facts_of(dispute_id)
            party = _PARTY_OF[current_caller().role]
            await self._peers.check_evidence(dispute_id, facts.order_id, evidence_ids, False, party)

    async def RespondAsSeller(
        self, request: pb.RespondAsSellerRequest, context: grpc.aio.ServicerContext
    ) -> pb.RespondAsSellerResponse:
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        facts = await self._facts_of(dispute_id) if request.HasField("counter_offer") else None
        action = rq.seller_response(request, current_caller().id, facts)
        await self._attach(dispute_id, action.evidence_ids)
        return pb.RespondAsSellerResponse(
            dispute=await self._act(dispute_id, DisputeWorkflow.respond_as_seller, action)
        )

    async def AcceptOffer(
        self, request: pb.AcceptOfferRequest, context: grpc.aio.ServicerContext
    ) -> pb.AcceptOfferResponse:
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        action = rq.buyer_action(current_caller().id, offer_version=request.offer_version)
        return pb.AcceptOfferResponse(
            dispute=await self._act(dispute_id, DisputeWorkflow.accept_offer, action)
        )

    async def RejectOffer(
        self, request: pb.RejectOfferRequest, context: grpc.aio.ServicerContext
    ) -> pb.RejectOfferResponse:
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        action = rq.buyer_action(
            current_caller().id,
            offer_version=request.offer_version,
            message=request.message,
            escalate=request.escalate,
        )
        return pb.RejectOfferResponse(
            dispute=await self._act(dispute_id, DisputeWorkflow.reject_offer, action)
        )

    async def ModifyDispute(
        self, request: pb.ModifyDisputeRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModifyDisputeResponse:
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        facts = await self._facts_of(dispute_id) if request.HasField("solution") else None
        action = rq.modification(request, current_caller().id, facts)
        await self._attach(dispute_id, action.evidence_ids)
        return pb.ModifyDisputeResponse(dispute=await self._act(dispute_id, DisputeWorkflow.modify, action))

    async def EscalateDispute(
        self, request: pb.EscalateDisputeRequest, context: grpc.aio.ServicerContext
    ) -> pb.EscalateDisputeResponse:
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        action = rq.buyer_action(
            current_caller().id, message=request.message, evidence_ids=list(request.evidence_ids)
        )
        await self._attach(dispute_id, action.evidence_ids)
        return pb.EscalateDisputeResponse(
            dispute=await self._act(dispute_id, DisputeWorkflow.escalate, action)
        )

    async def CancelDispute(
        self, request: pb.CancelDisputeRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelDisputeResponse:
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        action = rq.buyer_action(current_caller().id, message=request.reason)
        return pb.CancelDisputeResponse(dispute=await self._act(dispute_id, DisputeWorkflow.cancel, action))

    async def RequestInformation(
        self, request: pb.RequestInformationRequest, context: grpc.aio.ServicerContext
    ) -> pb.RequestInformationResponse:
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        await self._arbiter_may_act(dispute_id)
        action = rq.info_request(request, current_caller().id)
        return pb.RequestInformationResponse(
            dispute=await self._act(dispute_id, DisputeWorkflow.request_information, action)
        )

    async def SubmitInformation(
        self, request: pb.SubmitInformationRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubmitInformationResponse:
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        caller = current_caller()
        action = rq.info_answer(request, caller.id, _PARTY_OF[caller.role])
        await self._attach(dispute_id, action.evidence_ids)
        return pb.SubmitInformationResponse(
            dispute=await self._act(dispute_id, DisputeWorkflow.submit_information, action)
        )

    async def DecideDispute(
        self, request: pb.DecideDisputeRequest, context: grpc.aio.ServicerContext
    ) -> pb.DecideDisputeResponse:
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        action = rq.decision(request, current_caller().id, await self._facts_of(dispute_id))
        return pb.DecideDisputeResponse(dispute=await self._act(dispute_id, DisputeWorkflow.decide, action))

    async def AppealDecision(
        self, request: pb.AppealDecisionRequest, context: grpc.aio.ServicerContext
    ) -> pb.AppealDecisionResponse:
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        action = rq.appeal(request, current_caller().id)
        await self._attach(dispute_id, action.evidence_ids)
        return pb.AppealDecisionResponse(dispute=await self._act(dispute_id, DisputeWorkflow.appeal, action))

    async def SubmitReturnShipment(
        self, request: pb.SubmitReturnShipmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubmitReturnShipmentResponse:
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        action = rq.return_shipment(request, current_caller().id)
        return pb.SubmitReturnShipmentResponse(
            dispute=await self._act(dispute_id, DisputeWorkflow.submit_return_shipment, action)
        )

    async def ConfirmReturnReceived(
        self, request: pb.ConfirmReturnReceivedRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmReturnReceivedResponse:
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        action = rq.return_receipt(request, current_caller().id)
        await self._attach(dispute_id, action.evidence_ids)
        return pb.ConfirmReturnReceivedResponse(
            dispute=await self._act(dispute_id, DisputeWorkflow.confirm_return, action)
        )

    # --- internal ------------------------------------------------------------------------------

    async def RecordDisputeState(
        self, request: pb.RecordDisputeStateRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordDisputeStateResponse:
        d = request.dispute
        require_uuid(d.dispute_id, "dispute.dispute_id")
        require_uuid(d.order_id, "dispute.order_id")
        if request.revision <= 0:
            raise InvalidArgument("revision must be positive")
        for name in ("opened_at", "updated_at", "escalated_at", "closed_at"):
            if d.HasField(name):
                require_timestamp(getattr(d, name), f"dispute.{name}")
        if not d.HasField("opened_at") or not d.HasField("updated_at"):
            raise InvalidArgument("dispute.opened_at and dispute.updated_at are required")
        parse(pb.DisputeReason, d.reason, "dispute.reason", allow_unset=True)
        recorded = Recorded(
            dispute=d,
            revision=request.revision,
            status=parse(pb.DisputeStatus, d.status, "dispute.status"),
            resolution=parse(pb.DisputeResolution, d.resolution, "dispute.resolution", allow_unset=True),
            opened_at=d.opened_at.ToDatetime(tzinfo=UTC),
            updated_at=d.updated_at.ToDatetime(tzinfo=UTC),
        )
        applied = await self._repo.record(recorded)
        if applied:
            self._head.nudge()  # its events: to this process's watchers at once
        return pb.RecordDisputeStateResponse(applied=applied)
