"""`assocflow`: the services and operators' command line (tokens, migrations), on DATABASE_URL.

assocflow api                 serve the HTTP API (as `python -m server`)
assocflow worker              run the Temporal worker (as `python worker.py`)
assocflow tokens create --subject-kind operator --subject-id alice --expires-in P30D
assocflow tokens list
assocflow tokens revoke <token id>
assocflow requests agree|reject|cancel <request id> --reason "…"
assocflow type-changes list [--status pending]
assocflow type-changes agree|reject|cancel <request id> --reason "…"
assocflow partner-changes list [--status pending]
assocflow partner-changes cancel <request id> --reason "…"
assocflow people invite <person id>     a one-time link to set a console password
assocflow people reset-mfa <person id>
assocflow migrate
assocflow secrets rotate      re-encrypt stored secrets with the newest ASSOCFLOW_ENCRYPTION_KEY
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar
from uuid import UUID

import typer
from psycopg_pool import AsyncConnectionPool
from pydantic import TypeAdapter

from application import admin, requests, sessions
from application import secrets as stored_secrets
from application.admin import SubjectKind
from application.errors import Failure
from application.principal import Principal
from application.services import Services
from assocflow import logs
from assocflow.process import run_command, run_main
from assocflow.settings import Settings
from assocflow.temporal import connect
from domain.types import DecisionAction, Request, RequestKind, RequestStatus
from store import tokens
from store.accounts import PostgresStanding
from store.db import migrate as apply_migrations
from store.db import open_pool
from workflows.gateway import Gateway

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)
tokens_app = typer.Typer(
    help="Bearer tokens: create (shown once), list, revoke.", no_args_is_help=True
)
app.add_typer(tokens_app, name="tokens")
requests_app = typer.Typer(
    help="Decide on a request as an operator: agree or reject for the counterpart, or cancel.",
    no_args_is_help=True,
)
app.add_typer(requests_app, name="requests")
type_changes_app = typer.Typer(
    help="Association type change requests: list them; agree or reject for the counterpart, or"
    " cancel.",
    no_args_is_help=True,
)
app.add_typer(type_changes_app, name="type-changes")
partner_changes_app = typer.Typer(
    help="Partner change requests (a customer's move to another partner): list them, or cancel"
    " one.",
    no_args_is_help=True,
)
app.add_typer(partner_changes_app, name="partner-changes")
secrets_app = typer.Typer(
    help="Secrets kept encrypted with ASSOCFLOW_ENCRYPTION_KEY: rotate them to its newest key.",
    no_args_is_help=True,
)
app.add_typer(secrets_app, name="secrets")
people_app = typer.Typer(
    help="People: invite them to the console, reset a second factor.", no_args_is_help=True
)
app.add_typer(people_app, name="people")

T = TypeVar("T")


def _operator() -> Principal:
    """The operator at this terminal: records and audit entries name it `operator:cli:<user>`
    (one with a token is `operator:<the token's name>`)."""
    return Principal(kind="operator", subject_id=f"cli:{getpass.getuser()}")


@app.command()
def api() -> None:
    """Serve the HTTP API on ASSOCFLOW_API_HOST:ASSOCFLOW_API_PORT until SIGINT or SIGTERM."""
    from server.__main__ import serve

    logs.configure()
    serve()


@app.command()
def worker() -> None:
    """Run the Temporal worker (workflows, activities, webhook relay) until SIGINT or SIGTERM."""
    import worker as worker_process

    worker_process.serve()


@app.command()
def migrate() -> None:
    """Apply the schema migrations that are not applied yet."""
    applied = asyncio.run(apply_migrations(Settings().database_url))
    typer.echo("\n".join(applied) if applied else "The schema is up to date.")


def _admin_command(use_case: Callable[[AsyncConnectionPool, Principal], Awaitable[T]]) -> T:
    """Run a token use case (application/admin.py, as the admin API does) on DATABASE_URL."""
    who = _operator()

    async def run() -> T:
        pool = await open_pool(Settings().database_url, min_size=1, max_size=1)
        try:
            return await use_case(pool, who)
        finally:
            await pool.close()

    return run_command(run())


@tokens_app.command("create")
def create_token(
    subject_kind: Annotated[
        str,
        typer.Option(
            help="operator, partner_user, customer_user, partner_service or customer_service"
        ),
    ],
    subject_id: Annotated[
        str, typer.Option(help="The user's or customer's id; a name for an operator")
    ],
    expires_in: Annotated[
        str | None, typer.Option(help="ISO 8601 duration, e.g. P30D; none: no expiry")
    ] = None,
    label: Annotated[str | None, typer.Option(help="What the token is for")] = None,
) -> None:
    """Create a token and print it: this is the only time it is shown."""
    kind: SubjectKind = TypeAdapter(SubjectKind).validate_python(subject_kind)
    if kind == "customer":  # what a customer's service token was called
        kind = "customer_service"
    lifetime = None if expires_in is None else TypeAdapter(timedelta).validate_python(expires_in)

    try:  # any form of UUID for a user or customer, kept canonical as the API keeps it
        subject = tokens.canonical_subject_id(kind, subject_id)
    except ValueError as exc:
        raise typer.BadParameter(
            f"not the id of a {admin.SUBJECT_NAMES[kind]}: {subject_id!r}",
            param_hint="--subject-id",
        ) from exc
    expires_at = None if lifetime is None else datetime.now(UTC) + lifetime

    try:
        row, token = _admin_command(
            lambda pool, who: admin.create_token(
                pool,
                who,
                subject_kind=kind,
                subject_id=subject,
                expires_at=expires_at,
                label=label,
            )
        )
    except Failure as failure:
        if failure.code == "validation_error":  # the id is well formed: nobody has it
            raise typer.BadParameter(
                f"no {kind} with id {subject}", param_hint="--subject-id"
            ) from None
        typer.echo(f"{failure.code}: {failure.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"id:      {row.id}", err=True)
    typer.echo(f"expires: {row.expires_at or 'never'}", err=True)
    typer.echo(token)


@tokens_app.command("list")
def list_tokens() -> None:
    """Every token (never the secret): id, subject, creator, expiry, revocation."""
    for row in _admin_command(admin.list_tokens):
        state = "revoked" if row.revoked_at else "active"
        typer.echo(
            f"{row.id}  {state:7}  {row.subject_kind}:{row.subject_id}"
            f"  by {row.created_by}  expires {row.expires_at or 'never'}"
        )


@tokens_app.command("revoke")
def revoke_token(token_id: UUID) -> None:
    """Revoke a token; it is refused (401) from now on."""
    try:
        _admin_command(lambda pool, who: admin.revoke_token(pool, who, token_id))
    except Failure as failure:
        if failure.code != "not_found":
            raise
        typer.echo(f"No token with id {token_id}.", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Revoked {token_id}.")


Reason = Annotated[str | None, typer.Option(help="Why (required to reject or cancel)")]


@requests_app.command("agree")
def agree_request(request_id: UUID, reason: Reason = None) -> None:
    """Agree on the counterpart's behalf; the association ends."""
    _decide(RequestKind.DISASSOCIATION, request_id, DecisionAction.AGREE, reason)


@requests_app.command("reject")
def reject_request(request_id: UUID, reason: Reason = None) -> None:
    """Reject on the counterpart's behalf; the association continues."""
    _decide(RequestKind.DISASSOCIATION, request_id, DecisionAction.REJECT, reason)


@requests_app.command("cancel")
def cancel_request(request_id: UUID, reason: Reason = None) -> None:
    """Cancel the request; both sides are told and the association continues."""
    _decide(RequestKind.DISASSOCIATION, request_id, DecisionAction.CANCEL, reason)


Status = Annotated[RequestStatus | None, typer.Option(help="Only requests with this status")]
Limit = Annotated[int, typer.Option(min=1, max=100, help="At most this many")]


@type_changes_app.command("list")
def list_type_changes(status: Status = None, limit: Limit = 50) -> None:
    """Type change requests, newest first: id, status, from → to, association, respond by."""
    for request in _list(RequestKind.TYPE_CHANGE, status, limit):
        from_type, new_type = request.from_type, request.new_type
        typer.echo(
            f"{request.id}  {request.status.value:<9}"
            f"  {from_type.value if from_type else '?'} -> {new_type.value if new_type else '?'}"
            f"  association {request.association_id}  respond by {request.respond_by.isoformat()}"
        )


@partner_changes_app.command("list")
def list_partner_changes(status: Status = None, limit: Limit = 50) -> None:
    """Partner change requests, newest first: id, status, customer, current -> new partner,
    respond by."""
    for request in _list(RequestKind.PARTNER_CHANGE, status, limit):
        typer.echo(
            f"{request.id}  {request.status.value:<9}  customer {request.customer_id}"
            f"  partner {request.partner_id} -> {request.new_partner_id}"
            f"  respond by {request.respond_by.isoformat()}"
        )


@partner_changes_app.command("cancel")
def cancel_partner_change(request_id: UUID, reason: Reason = None) -> None:
    """Cancel the request; every party is told and the customer stays with its partner."""
    _decide(RequestKind.PARTNER_CHANGE, request_id, DecisionAction.CANCEL, reason)


def _list(kind: RequestKind, status: RequestStatus | None, limit: int) -> list[Request]:
    settings = Settings()
    who = _operator()

    async def run() -> list[Request]:
        pool = await open_pool(settings.database_url, min_size=1, max_size=1)
        try:
            # Nothing here talks to Temporal: a lazy client never connects.
            temporal = Gateway(await connect(settings, lazy=True), settings.task_queue)
            services = Services(pool, temporal, settings, PostgresStanding(pool))
            rows, _ = await requests.list_requests(
                services, who, kind, status=status, association_id=None,
                customer_id=None, initiator=None, limit=limit, cursor=None,
            )  # fmt: skip
            return rows
        finally:
            await pool.close()

    return run_command(run())


@type_changes_app.command("agree")
def agree_type_change(request_id: UUID, reason: Reason = None) -> None:
    """Agree on the counterpart's behalf; the association's type changes."""
    _decide(RequestKind.TYPE_CHANGE, request_id, DecisionAction.AGREE, reason)


@type_changes_app.command("reject")
def reject_type_change(request_id: UUID, reason: Reason = None) -> None:
    """Reject on the counterpart's behalf; the association keeps its type."""
    _decide(RequestKind.TYPE_CHANGE, request_id, DecisionAction.REJECT, reason)


@type_changes_app.command("cancel")
def cancel_type_change(request_id: UUID, reason: Reason = None) -> None:
    """Cancel the request; both sides are told and the association keeps its type."""
    _decide(RequestKind.TYPE_CHANGE, request_id, DecisionAction.CANCEL, reason)


def _decide(
    kind: RequestKind, request_id: UUID, action: DecisionAction, reason: str | None
) -> None:
    if action is not DecisionAction.AGREE and not (reason or "").strip():
        raise typer.BadParameter(f"a reason is required to {action}", param_hint="--reason")
    settings = Settings()
    who = _operator()

    async def run() -> Request:
        pool = await open_pool(settings.database_url, min_size=1, max_size=2)
        try:
            temporal = Gateway(await connect(settings), settings.task_queue)
            services = Services(pool, temporal, settings, PostgresStanding(pool))
            return await requests.decide(services, who, kind, request_id, action, reason)
        finally:
            await pool.close()

    try:
        request = run_command(run())
    except Failure as failure:
        typer.echo(f"{failure.code}: {failure.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{request.id}  {request.status.value}  by {request.decided_by}")


@people_app.command("invite")
def invite_person(person_id: UUID) -> None:
    """Print a one-time link for the person to set their console password (then enrol an
    authenticator); it replaces their unused one. On the audit log."""
    settings = Settings()
    who = _operator()

    async def run() -> sessions.Invitation:
        pool = await open_pool(settings.database_url, min_size=1, max_size=1)
        try:
            # Nothing here talks to Temporal: a lazy client never connects.
            temporal = Gateway(await connect(settings, lazy=True), settings.task_queue)
            services = Services(pool, temporal, settings, PostgresStanding(pool))
            return await sessions.invite(services, who, person_id)
        finally:
            await pool.close()

    try:
        invitation = run_command(run())
    except Failure as failure:
        typer.echo(f"{failure.code}: {failure.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"expires: {invitation.expires_at.isoformat()}", err=True)
    typer.echo(invitation.url)


@people_app.command("reset-mfa")
def reset_mfa(person_id: UUID) -> None:
    """Forget a person's authenticator (a lost phone) and end their console sessions; where the
    account requires verification, their password too (send a new invitation). On the audit
    log."""
    try:
        _admin_command(lambda pool, who: admin.reset_mfa(pool, who, person_id))
    except Failure as failure:
        typer.echo(f"{failure.code}: {failure.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"Reset the second factor of {person_id} and ended their console sessions; they enrol"
        " again (where their account requires verification, through a new invitation:"
        f" assocflow people invite {person_id})."
    )


@secrets_app.command("rotate")
def rotate_secrets(
    batch_size: Annotated[
        int, typer.Option(min=1, help="Rows per transaction (each batch's rows are locked)")
    ] = stored_secrets.BATCH_SIZE,
) -> None:
    """Re-encrypt every stored secret with the newest (first) key of ASSOCFLOW_ENCRYPTION_KEY.

    Put the new key first everywhere and restart the services, run this, then drop the old key.
    Safe to run again: what is already under the newest key is left as it is."""
    key = Settings().encryption_key
    try:
        counts = _admin_command(
            lambda pool, who: stored_secrets.rotate_secrets(
                pool, who, key.get_secret_value() if key else None, batch_size=batch_size
            )
        )
    except Failure as failure:
        typer.echo(f"{failure.code}: {failure.detail}", err=True)
        for table, count in failure.extra.get("unreadable", {}).items():
            typer.echo(f"{table}: {count} unreadable", err=True)
        raise typer.Exit(1) from None
    for table, count in counts.items():
        typer.echo(f"{table}: {count} re-encrypted")
    typer.echo(f"Re-encrypted {sum(counts.values())} secrets with the newest key.")


def main() -> None:
    """The `assocflow` command: every subcommand ends through exit_process (status 0 on Ctrl-C)."""
    run_main(app)


if __name__ == "__main__":
    main()
