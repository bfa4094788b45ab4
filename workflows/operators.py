"""What operators see of a running request, in one place: its `RequestStatus` and `RespondBy`
search attributes, the *Current details* the Temporal UI shows, assocflow's business metrics and
the worker's log lines. The workflow says what happened; this decides how it shows.

Metrics are recorded once (Temporal's workflow meter skips replays), log lines likewise.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from assocflow import metrics
from domain.types import Actor, CheckResult, DecisionAction, RequestStatus
from workflows import shared
from workflows.contract import RequestSnapshot, SubmitCommand


class OperatorView:
    def __init__(self, cmd: SubmitCommand) -> None:
        self._cmd = cmd
        self._ids = {
            "request_id": str(cmd.request_id),
            "association_id": str(cmd.association_id),
            "partner_id": str(cmd.partner_id),
            "customer_id": str(cmd.customer_id),
            "initiator": cmd.initiator.value,
        }

    def checking(self) -> None:
        workflow.set_current_details(
            f"**Checking** the accounts of {self._cmd.customer_name} and {self._cmd.partner_name}."
        )

    def refused(self, check: CheckResult) -> None:
        workflow.upsert_search_attributes([shared.REQUEST_STATUS.value_set(shared.CHECK_FAILED)])
        failed = [item for item in check.items if not item.passed]
        workflow.set_current_details(
            "**Not accepted**: the account check failed.\n\n"
            + "\n".join(f"- `{item.code}`: {item.message}" for item in failed)
        )
        self._log("request refused", failed_items=[item.code for item in failed])

    def accepted(self, request: RequestSnapshot, reminder_at: datetime | None) -> None:
        self._count(metrics.REQUESTS_ACCEPTED)
        self._log("request accepted", respond_by=request.respond_by.isoformat())
        workflow.upsert_search_attributes(
            [
                shared.REQUEST_STATUS.value_set(RequestStatus.PENDING.value),
                shared.RESPOND_BY.value_set(request.respond_by),
            ]
        )
        self.pending(request, reminder_at, reminded=False)

    def pending(
        self, request: RequestSnapshot, reminder_at: datetime | None, *, reminded: bool
    ) -> None:
        workflow.set_current_details(
            shared.pending_details(self._cmd, request.respond_by, reminder_at, reminded)
        )

    def reminded(self, request: RequestSnapshot, reminder_at: datetime) -> None:
        self._count(metrics.REMINDERS_SENT)
        self._log("reminder sent")
        self.pending(request, reminder_at, reminded=True)

    def settling(self, outcome: RequestStatus, actor: Actor) -> None:
        workflow.set_current_details(f"**Settling** as {outcome.value} (`{actor.ref}`).")

    def settled(self, request: RequestSnapshot) -> None:
        outcome = request.status.value
        self._count(metrics.REQUESTS_SETTLED, outcome=outcome)
        self._log("request settled", outcome=outcome, decided_by=request.decided_by)
        if request.decided_at is not None:
            workflow.metric_meter().create_histogram_float(
                metrics.DECISION_LATENCY, "From submission to outcome.", "s"
            ).record(
                (request.decided_at - request.submitted_at).total_seconds(),
                {"initiator": self._cmd.initiator.value, "outcome": outcome},
            )
        workflow.upsert_search_attributes([shared.REQUEST_STATUS.value_set(outcome)])
        workflow.set_current_details(
            shared.settled_details(
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
            f"{workflow.get_current_details()}\n\n> Ignored the `{action.value}` signal from"
            f" `{who}`: {why}"
        )

    def _log(self, event: str, **fields: object) -> None:
        """A log line with the request's ids (Temporal adds the workflow's; none on replay)."""
        workflow.logger.info(event, extra={**self._ids, **fields})

    def _count(self, name: str, **attributes: str) -> None:
        workflow.metric_meter().create_counter(name).add(
            1, {"initiator": self._cmd.initiator.value, **attributes}
        )
