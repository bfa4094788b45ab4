"""Requests of every kind (disassociations, type changes): check, submit, read, and decide
(agree, reject, withdraw, cancel). One set of use cases, given the kind; what differs by kind is
domain/kinds.py's and domain/checks.py's."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4, uuid5

from application.admission import admitted
from application.errors import Failure, forbidden, not_found, paged, unavailable
from application.guards import give_back, verified, within_rate
from application.principal import READ_REQUESTS, Principal
from application.services import Services
from assocflow import logs
from assocflow.metrics import SUBMISSIONS
from contract import RequestSnapshot, SubmitCommand
from domain import checks, decisions, kinds, messages
from domain.problems import ProblemCode
from domain.text import Text
from domain.types import (
    AccountStanding,
    AssociationType,
    CheckResult,
    Decision,
    DecisionAction,
    Party,
    Request,
    RequestKind,
    RequestStatus,
    Side,
    workflow_id_for,
)
from store import accounts, associations, requests
from store.rows import NamedAssociation, RequestForDecision
from workflows.gateway import (
    Closed,
    DecideOutcome,
    Failed,
    Late,
    Refused,
    Settled,
    Unreachable,
)

log = logs.get(__name__)

# How long a submit or a decision waits for the workflow before answering that it is late.
WORKFLOW_ANSWER_TIMEOUT = 30.0
# A pending request whose workflow is gone is settled by the reconciler within a minute or so.
RECONCILER_RETRY = timedelta(seconds=60)

# Request ids made from an Idempotency-Key live in a namespace of their own.
_REQUEST_IDS = UUID("5f0c36d2-8a53-4c8e-9a43-6f0b1d3c2a77")


# What a person's code is asked for, by the answer it guards ("... for agreeing a request";
# `f"{action}ing"` made "declineing").
_DOING = {
    DecisionAction.AGREE: Text("agreeing a request"),
    DecisionAction.REJECT: Text("rejecting a request"),
    DecisionAction.ACCEPT: Text("accepting a request"),
    DecisionAction.DECLINE: Text("declining a request"),
}


async def _association_to_act_on(
    svc: Services, who: Principal, kind: RequestKind, association_id: UUID
) -> NamedAssociation:
    """The association, if the caller may start a request of `kind` on it: not found if it
    cannot see it, forbidden if it sees it but is not one of its two parties or lacks the kind's
    permission."""
    async with svc.pool.connection() as conn:
        association = await associations.get_with_names(
            conn, association_id, scope=who.read_scope()
        )
    if association is None:
        raise not_found(Text("association"))
    rules = kinds.of(kind)
    if not who.may_act_on(association.partner_id, association.customer_id):
        raise forbidden(
            Text(
                "Only the association's own partner or customer may submit a {noun}.",
                noun=messages.noun(kind),
            )
        )
    if who.side not in rules.initiators:
        raise forbidden(Text("Only the customer may submit a {noun}.", noun=messages.noun(kind)))
    if rules.submit is not None:
        who.require(rules.submit)
    return association


async def _account_check(
    svc: Services,
    who: Principal,
    kind: RequestKind,
    association: NamedAssociation,
    now: datetime,
    new_type: AssociationType | None,
    new_partner_id: UUID | None = None,
) -> tuple[AccountStanding, CheckResult]:
    """The check as `store.associations.account_check` makes it, its items' words kept as
    Texts for the caller's language (messages.worded): the store's result keeps their English
    only. With the customer's standing it was made on, which a submit hands on to the request's
    acceptance (read once)."""
    assert who.side is not None
    standing = await svc.standing.standing(association.customer_id)
    policy = svc.settings.policy()
    async with svc.pool.connection() as conn:
        found = await associations.check_facts(
            conn,
            association.id,
            kind,
            who.side,
            standing,
            policy=policy,
            new_partner_id=new_partner_id,
        )
    if found is None:
        raise not_found(Text("association"))
    facts = found[1]
    result = checks.evaluate(kind, who.side, facts, policy, now, new_type)
    wording = messages.CheckWording(kind, who.side, facts, policy, result.next_allowed_at, new_type)
    return standing, messages.worded(result, wording)


async def check(
    svc: Services,
    who: Principal,
    kind: RequestKind,
    association_id: UUID,
    new_type: AssociationType | None = None,
    new_partner_id: UUID | None = None,
) -> CheckResult:
    """The account check on its own, so that failed items can be fixed before submitting."""
    association = await _association_to_act_on(svc, who, kind, association_id)
    now = datetime.now(UTC)
    _, checked = await _account_check(svc, who, kind, association, now, new_type, new_partner_id)
    return checked


def refusal(check_result: CheckResult) -> Failure:
    """The SPEC's precedence: a pending request, then the limit, then any other failed item."""
    failed = [item.model_dump() for item in check_result.items if not item.passed]
    pending = next((i for i in check_result.items if i.code == "no_pending_request"), None)
    if pending is not None and not pending.passed:
        return Failure(ProblemCode.REQUEST_PENDING, pending.message, items=failed)
    if check_result.failed("within_request_limit"):
        return Failure(
            ProblemCode.REQUEST_LIMIT_REACHED,
            Text("The request limit is reached."),
            next_allowed_at=check_result.next_allowed_at,
            items=failed,
        )
    return Failure(
        ProblemCode.CHECK_FAILED,
        Text("The account check failed; fix the failed items and try again."),
        items=[item.model_dump() for item in check_result.items],
    )


def request_id_for(
    who: Principal,
    idempotency_key: str | None,
    association_id: UUID,
    reason: str,
    kind: RequestKind = RequestKind.DISASSOCIATION,
    new_type: AssociationType | None = None,
    new_partner_id: UUID | None = None,
) -> UUID:
    """A retry with the same Idempotency-Key and request names the same request, so that even a
    retry after the first attempt's answer was lost joins that request's workflow instead of
    starting another. What is asked is part of the name: the same key for another request (after
    the key was forgotten) is another request, never the old one's answer."""
    if idempotency_key is None:
        return uuid4()
    asked = f"{association_id}\n{reason}"
    if kind is not RequestKind.DISASSOCIATION:
        asked += f"\n{kind.value}\n{new_type.value if new_type else ''}"
    if new_partner_id is not None:
        asked += f"\n{new_partner_id}"
    digest = hashlib.sha256(asked.encode()).hexdigest()
    return uuid5(_REQUEST_IDS, f"{who.ref}:{idempotency_key}:{digest}")


@admitted("submit")
async def submit(
    svc: Services,
    who: Principal,
    kind: RequestKind,
    association_id: UUID,
    reason: str,
    *,
    new_type: AssociationType | None = None,
    new_partner_id: UUID | None = None,
    verification_code: str | None = None,
    idempotency_key: str | None = None,
) -> Request:
    """Start a request: the account check, the caller's verification code, then the request's
    workflow, which checks again under the association's lock and accepts it."""
    association = await _association_to_act_on(svc, who, kind, association_id)
    assert who.side is not None
    request_id = request_id_for(
        who, idempotency_key, association.id, reason, kind, new_type, new_partner_id
    )
    if (accepted := await _already_accepted(svc, request_id, idempotency_key)) is not None:
        return accepted  # a retry after the first attempt's answer was lost
    # The rate limit and the account check read different rows: both at once, one round trip
    # less on every submit. The rate limit's answer still comes first.
    limited, made = await asyncio.gather(
        within_rate(svc.pool, who, "submit", svc.settings.rate_limit_submit),
        _account_check(svc, who, kind, association, datetime.now(UTC), new_type, new_partner_id),
        return_exceptions=True,
    )
    if isinstance(limited, BaseException):
        raise limited
    if isinstance(made, BaseException):
        raise made
    standing, checked = made
    # The check comes before the verification code, so that a refused request costs no code.
    if not checked.passed:
        # The first attempt's workflow may have accepted this very request meanwhile (its API
        # died before answering): then the pending request the check found is this one.
        if (accepted := await _already_accepted(svc, request_id, idempotency_key)) is not None:
            return accepted
        raise _refused(who, kind, checked)
    spent = await verified(svc, who, Text("submitting a request"), verification_code)
    cmd = SubmitCommand(
        kind=kind,
        new_type=new_type,
        new_partner_id=new_partner_id,
        new_partner_name=await _partner_name(svc, new_partner_id),
        request_id=request_id,
        association_id=association.id,
        partner_id=association.partner_id,
        customer_id=association.customer_id,
        partner_name=association.partner_name,
        customer_name=association.customer_name,
        association_type=association.association_type,
        initiator=who.side,
        requested_by=who.actor,
        reason=reason,
        policy=svc.settings.policy(),
        standing=standing,
    )
    outcome = await svc.temporal.submit(cmd, within=WORKFLOW_ANSWER_TIMEOUT)
    if isinstance(outcome, Late):
        raise unavailable(
            Text(
                "Request {request_id} was started but not yet checked; look it up shortly.",
                request_id=cmd.request_id,
            )
        )
    if isinstance(outcome, Unreachable):
        await give_back(svc, spent)
        raise unavailable(TEMPORAL_UNREACHABLE)
    admission = outcome.admission
    if not admission.accepted:  # the state changed between the check and the acceptance
        await give_back(svc, spent)
        raise _refused(who, kind, admission.check)
    assert admission.request is not None
    SUBMISSIONS.labels(who.side.value, "accepted", kind.value).inc()
    log.info(
        "request accepted",
        request_id=str(cmd.request_id),
        kind=kind.value,
        association_id=str(cmd.association_id),
    )
    return request_of(admission.request)


async def _already_accepted(
    svc: Services, request_id: UUID, idempotency_key: str | None
) -> Request | None:
    """The request a retry names, if an earlier attempt with its Idempotency-Key got it
    accepted."""
    if idempotency_key is None:
        return None
    async with svc.pool.connection() as conn:
        return await requests.get(conn, request_id)


def _refused(who: Principal, kind: RequestKind, check_result: CheckResult) -> Failure:
    failure = refusal(check_result)
    assert who.side is not None
    SUBMISSIONS.labels(who.side.value, failure.code, kind.value).inc()
    return failure


async def get(svc: Services, who: Principal, kind: RequestKind, request_id: UUID) -> Request:
    async with svc.pool.connection() as conn:
        request = await requests.get(conn, request_id, kind=kind, scope=who.read_scope())
    if request is None:
        raise not_found(messages.noun(kind))
    who.require(*READ_REQUESTS)
    return request


async def get_many(
    svc: Services, who: Principal, kind: RequestKind, request_ids: list[UUID]
) -> list[Request]:
    """The requests of `kind` among `request_ids` that the caller may see, in one read."""
    who.require(*READ_REQUESTS)
    async with svc.pool.connection() as conn:
        return await requests.get_many(conn, request_ids, kind, scope=who.read_scope())


@paged
async def list_requests(
    svc: Services,
    who: Principal,
    kind: RequestKind,
    *,
    status: RequestStatus | None,
    association_id: UUID | None,
    customer_id: UUID | None,
    initiator: Side | None,
    submitted_from: datetime | None = None,
    submitted_to: datetime | None = None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Request], str | None]:
    who.require(*READ_REQUESTS)
    async with svc.pool.connection() as conn:
        return await requests.list_scoped(
            conn,
            who.read_scope(),  # every request, for operators (the CLI)
            kind,
            status=status,
            association_id=association_id,
            customer_id=customer_id,
            initiator=initiator,
            submitted_from=submitted_from,
            submitted_to=submitted_to,
            limit=limit,
            cursor=cursor,
        )


@admitted("decide")
async def decide(
    svc: Services,
    who: Principal,
    kind: RequestKind,
    request_id: UUID,
    action: DecisionAction,
    reason: str | None = None,
    *,
    verification_code: str | None = None,
    association_type: AssociationType | None = None,
) -> Request:
    """Agree, reject or withdraw (the parties; a partner change's new partner accepts, choosing
    `association_type`, or declines), or agree, reject or cancel (operators): judged here by the
    domain's rule, then applied by the request's workflow, which judges again."""
    async with svc.pool.connection() as conn:
        request = await requests.for_decision(conn, request_id, kind=kind, scope=who.read_scope())
    if request is None:
        raise not_found(messages.noun(kind))
    party = None
    if who.kind != "operator":
        party = party_of(who, request)
        if party is None:
            raise forbidden(Text("Only the request's own parties may decide on it."))
        permission = decisions.permission_for(kind, action)
        if permission is not None:
            who.require(permission)
    decision = Decision(
        action=action,
        actor=who.actor,
        reason=reason,
        party=party,
        association_type=association_type,
    )
    context = decisions.DecisionContext(
        initiator=request.initiator,
        status=request.status,
        respond_by=request.respond_by,
        on_timeout=request.on_timeout,
        kind=kind,
        given=given_of(request),
    )
    try:
        decisions.authorize(decision, context, datetime.now(UTC))
    except decisions.DecisionRefused as refused:
        # The refusal's words as the domain wrote them (a Text): `str()` would keep the English.
        raise _decision_refused(refused.code, refused.args[0], refused.status) from None
    spent = None
    if decisions.needs_verification(action) and who.kind != "operator":
        spent = await verified(svc, who, _DOING[action], verification_code)
    workflow_id = workflow_id_for(kind, request_id)
    sent = await svc.temporal.decide(workflow_id, decision, within=WORKFLOW_ANSWER_TIMEOUT)
    if isinstance(sent.outcome, Settled):
        return request_of(sent.outcome.request)
    if isinstance(sent.outcome, Late):
        raise unavailable(
            Text(
                "The decision is taking longer than usual; read the request to see if it was"
                " applied."
            )
        )
    # Refused, or no answer: the decision may still be the outcome, settled in a workflow task
    # Temporal then refused (docs/PERFORMANCE.md, "Local activities: what they change").
    own = await _settled_by(svc, request_id, sent.decision_id)
    if own is not None:
        return own
    await give_back(svc, spent)
    raise await _failure_of(svc, request_id, sent.outcome)


def party_of(who: Principal, request: Request | RequestForDecision) -> Party | None:
    """Which of the request's parties the caller acts for (None: none of them). A distributor
    reads its resellers' requests but decides for its own customers only."""
    if who.kind == "customer":
        return Party.CUSTOMER if who.customer_id == request.customer_id else None
    if who.kind != "partner_user":
        return None
    if who.partner_id == request.partner_id:
        return Party.PARTNER
    if request.new_partner_id is not None and who.partner_id == request.new_partner_id:
        return Party.NEW_PARTNER
    return None


def reader_of(who: Principal, request: Request) -> Party | None:
    """Whose side the caller reads `request` from: its own party's, or, for a partner that is
    none of its parties (a distributor reading its resellers'), the side of the reseller it
    reads it through; None for operators, who read everything."""
    party = party_of(who, request)
    if party is not None or who.kind != "partner_user":
        return party
    if request.partner_id in who.readable_partner_ids:
        return Party.PARTNER
    return Party.NEW_PARTNER


def given_of(request: Request | RequestForDecision) -> frozenset[kinds.Consenter]:
    """The consents a partner change has on record."""
    if isinstance(request, Request):
        answered = {
            kinds.Consenter.PARTNER: request.current_partner_decision is not None,
            kinds.Consenter.NEW_PARTNER: request.new_partner_decision is not None,
        }
    else:
        answered = {
            kinds.Consenter.PARTNER: request.partner_answered,
            kinds.Consenter.NEW_PARTNER: request.new_partner_answered,
        }
    return frozenset(who for who, given in answered.items() if given)


async def _partner_name(svc: Services, partner_id: UUID | None) -> str | None:
    if partner_id is None:
        return None
    async with svc.pool.connection() as conn:
        partner = await accounts.get_partner(conn, partner_id)
    return partner.name if partner else None


async def _settled_by(svc: Services, request_id: UUID, update_id: str) -> Request | None:
    """The request, if the decision sent as Update `update_id` is what settled it."""
    async with svc.pool.connection() as conn:
        request = await requests.get_settled(conn, request_id)
    return request if request is not None and request.decision_id == update_id else None


TEMPORAL_UNREACHABLE = Text("Temporal cannot be reached; try again shortly.")


async def _failure_of(svc: Services, request_id: UUID, outcome: DecideOutcome) -> Failure:
    """Why a decision that did not settle the request was not applied, as the caller is told."""
    if isinstance(outcome, Refused):
        status = outcome.status
        if outcome.code is decisions.Refusal.NOT_PENDING and status is None:
            status = await _current_status(svc, request_id)
        return _decision_refused(outcome.code, outcome.message, status)
    if isinstance(outcome, Failed):
        return Failure(
            ProblemCode.TEMPORARILY_UNAVAILABLE,
            Text("The request's workflow failed the decision."),
        )
    if isinstance(outcome, Closed):
        # A closed workflow settled its request, unless it was terminated: then the request
        # stays pending until the reconciler cancels it.
        status = await _current_status(svc, request_id)
        if status is RequestStatus.PENDING:
            return unavailable(
                Text(
                    "The request's workflow has ended without settling it; it is being cancelled."
                ),
                retry_after=RECONCILER_RETRY,
            )
        return _decision_refused(decisions.Refusal.NOT_PENDING, "", status)
    return unavailable(TEMPORAL_UNREACHABLE)  # Unreachable


async def _current_status(svc: Services, request_id: UUID) -> RequestStatus | None:
    async with svc.pool.connection() as conn:
        current = await requests.get(conn, request_id)
    return current.status if current else None


def _decision_refused(
    code: decisions.Refusal, message: str, status: RequestStatus | None
) -> Failure:
    if code == decisions.Refusal.NOT_PENDING:
        # RFC 9457 reserves `status` for the HTTP code: the request's own is `request_status`.
        return Failure(
            ProblemCode.NOT_PENDING,
            message
            or Text(
                "The request is no longer pending; it is {status}.",
                status=messages.status_word(status),
            ),
            request_status=status.value if status else None,
        )
    return Failure(ProblemCode(code.value), message)


def request_of(snapshot: RequestSnapshot) -> Request:
    """The request a workflow answered with, as the use cases speak of it."""
    return Request.model_validate(snapshot, from_attributes=True)
