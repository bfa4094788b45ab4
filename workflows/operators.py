"""What operators see of a running request, in one place: its `RequestStatus` and `RespondBy`
search attributes, the *Current details* the Temporal UI shows (worded by domain/messages.py),
assocflow's business metrics and the worker's log lines. The workflow says what happened; this
decides how it shows.

Metrics are recorded once (Temporal's workflow meter skips replays), log lines likewise.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

import contract
from contract import CHECK_FAILED, RequestSnapshot, SubmitCommand
from domain import kinds, messages
from domain.decisions import timeout_outcome
from domain.types import Actor, CheckResult, DecisionAction, RequestStatus


def parties_of(cmd: SubmitCommand) -> messages.Parties:
    ask = messages.Ask(
        cmd.kind, cmd.association_type, cmd.new_type, cmd.new_partner_name, cmd.customer_name
    )
    return messages.Parties(cmd.initiator, cmd.partner_name, cmd.customer_name, ask)


def static_summary(cmd: SubmitCommand) -> str:
    return messages.request_summary(parties_of(cmd), cmd.association_type)


def static_details(cmd: SubmitCommand) -> str:
    return messages.request_details(
        parties_of(cmd),
        messages.RequestFacts(
            request_id=cmd.request_id,
            association_id=cmd.association_id,
            partner_id=cmd.partner_id,
            customer_id=cmd.customer_id,
            association_type=cmd.association_type,
            requested_by=cmd.requested_by.ref,
            reason=cmd.reason,
            response_window=cmd.policy.response_window,
            on_timeout=timeout_outcome(cmd.kind, cmd.policy, cmd.initiator),
        ),
    )


class OperatorView:
    def __init__(self, cmd: SubmitCommand) -> None:
        self._cmd = cmd
        self._parties = parties_of(cmd)
        self._ids = {
            "request_id": str(cmd.request_id),
            "association_id": str(cmd.association_id),
            "partner_id": str(cmd.partner_id),
            "customer_id": str(cmd.customer_id),
            "initiator": cmd.initiator.value,
            "kind": cmd.kind.value,
        }

    def checking(self) -> None:
        workflow.set_current_details(messages.checking(self._parties))

    def refused(self, check: CheckResult) -> None:
        workflow.upsert_search_attributes([contract.REQUEST_STATUS.value_set(CHECK_FAILED)])
        failed = [item for item in check.items if not item.passed]
        workflow.set_current_details(messages.refused([(i.code, i.message) for i in failed]))
        self._log("request refused", failed_items=[item.code for item in failed])

    def accepted(self, request: RequestSnapshot, reminder_at: datetime | None) -> None:
        self._count(contract.REQUESTS_ACCEPTED)
        self._log("request accepted", respond_by=request.respond_by.isoformat())
        workflow.upsert_search_attributes(
            [
                contract.REQUEST_STATUS.value_set(RequestStatus.PENDING.value),
                contract.RESPOND_BY.value_set(request.respond_by),
            ]
        )
        self.pending(request, reminder_at, reminded=False)

    def pending(
        self, request: RequestSnapshot, reminder_at: datetime | None, *, reminded: bool
    ) -> None:
        given = self._given(request)
        on_timeout = timeout_outcome(self._cmd.kind, self._cmd.policy, self._cmd.initiator, given)
        rules = kinds.of(self._cmd.kind)
        awaited = [c.party(self._cmd.initiator) for c in rules.consents if c.who not in given]
        workflow.set_current_details(
            messages.pending(
                self._parties, request.respond_by, on_timeout, reminder_at, reminded, awaited
            )
        )

    def consented(
        self, request: RequestSnapshot, who: kinds.Consenter, reminder_at: datetime | None
    ) -> None:
        """One consent of several given: the details say whose is still missing."""
        self._log("consent recorded", by=who.value)
        self.pending(request, reminder_at, reminded=False)

    @staticmethod
    def _given(request: RequestSnapshot) -> frozenset[kinds.Consenter]:
        answers = {
            kinds.Consenter.PARTNER: request.current_partner_decision,
            kinds.Consenter.NEW_PARTNER: request.new_partner_decision,
        }
        return frozenset(who for who, answer in answers.items() if answer is not None)

    def reminded(self, request: RequestSnapshot, reminder_at: datetime) -> None:
        self._count(contract.REMINDERS_SENT)
        self._log("reminder sent")
        self.pending(request, reminder_at, reminded=True)

    def settling(self, outcome: RequestStatus, actor: Actor) -> None:
        workflow.set_current_details(messages.settling(outcome, actor.ref))

    def settled(self, request: RequestSnapshot) -> None:
        outcome = request.status.value
        self._count(contract.REQUESTS_SETTLED, outcome=outcome)
        self._log("request settled", outcome=outcome, decided_by=request.decided_by)
        if request.decided_at is not None:
            workflow.metric_meter().create_histogram_float(
                contract.DECISION_LATENCY, "From submission to outcome.", "s"
            ).record(
                (request.decided_at - request.submitted_at).total_seconds(),
                {
                    "initiator": self._cmd.initiator.value,
                    "kind": self._cmd.kind.value,
                    "outcome": outcome,
                },
            )
        workflow.upsert_search_attributes([contract.REQUEST_STATUS.value_set(outcome)])
        workflow.set_current_details(
            messages.settled(
                self._parties.ask,
                request.status,
                request.decided_by or "",
                request.decided_at or workflow.now(),
                request.decision_reason,
            )
        )

    def ignored(self, action: DecisionAction, who: str, why: str) -> None:
        """A signal that could not apply: said in the log and under the current details."""
        workflow.logger.warning("Ignored the operator's %s signal: %s", action.value, why)
        workflow.set_current_details(
            messages.ignored_signal(workflow.get_current_details(), action, who, why)
        )

    def _log(self, event: str, **fields: object) -> None:
        """A log line with the request's ids (Temporal adds the workflow's; none on replay)."""
        workflow.logger.info(event, extra={**self._ids, **fields})

    def _count(self, name: str, **attributes: str) -> None:
        workflow.metric_meter().create_counter(name).add(
            1, {"initiator": self._cmd.initiator.value, "kind": self._cmd.kind.value, **attributes}
        )
