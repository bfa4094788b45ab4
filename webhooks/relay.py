"""The webhook relay: delivers queued notifications to their endpoints, signed per Standard
Webhooks, with exponential backoff and jitter over hours.

It runs beside the Temporal worker (or on its own) and shares nothing with the decision path:
a decision commits its notifications and returns; the relay is woken by the commit (LISTEN) and
delivers afterwards. Delivery is at least once: a worker that dies mid-delivery leaves a lease
that runs out, and the delivery is tried again with the same `webhook-id`.

Each attempt connects to the address the URL guard checked as it resolved the host, once
(webhooks/transport.py), follows no redirect (a 3xx is a failed attempt), reads at most
BODY_CAP bytes of the answer and drops them, and is bounded by ASSOCFLOW_WEBHOOK_TIMEOUT per
step (connect, write, read, a pooled connection) and by twice that for the whole answer's head.
The delivery log says only what the owner of the endpoint may know: the status code of an
answer, or that the address was refused, or that no connection could be made; the worker's log
has the details.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime, timedelta
from typing import cast
from uuid import UUID

import httpx
from psycopg_pool import AsyncConnectionPool
from standardwebhooks.webhooks import Webhook

from assocflow.settings import Settings
from store import listen
from store import webhooks as store
from store.rows import DueDelivery
from webhooks.secrets import SecretBox
from webhooks.transport import PinnedTransport
from webhooks.urls import COULD_NOT_CONNECT, UnsafeURL, parse_url

log = logging.getLogger(__name__)

BATCH = 20
POLL_INTERVAL = 2.0
# What is read of an answer (and dropped): enough to let a small one finish, no more.
BODY_CAP = 64 * 1024
# What the delivery log says of an attempt that failed on this side (a secret that no longer
# opens, say).
NOT_SENT = "not sent: an error on assocflow's side"


def backoff(attempt: int, base: timedelta, cap: timedelta, rand: Callable[[], float]) -> timedelta:
    """The wait after failed attempt `attempt` (1-based): doubling from `base` up to `cap`, each
    drawn between half and all of it so that failed endpoints are not retried in lockstep."""
    ceiling = min(cap.total_seconds(), base.total_seconds() * 2 ** (attempt - 1))
    return timedelta(seconds=ceiling * (0.5 + 0.5 * rand()))


def webhook_id(notification_id: UUID) -> str:
    """Stable for an event across attempts, so receivers can drop duplicates."""
    return f"msg_{notification_id.hex}"


class WebhookRelay:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        """`transport` is for tests: by default, a `PinnedTransport` on this machine's resolver."""
        self._pool = pool
        self._settings = settings
        key = settings.encryption_key.get_secret_value() if settings.encryption_key else None
        self._box = SecretBox(key)
        self._timeout = settings.webhook_timeout.total_seconds()
        self._http = httpx.AsyncClient(
            transport=transport or PinnedTransport(allow_private=settings.webhook_allow_private),
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: it would connect to the names
            timeout=httpx.Timeout(self._timeout),
        )
        self._wake = asyncio.Event()
        self._on_outcome = on_outcome or (lambda outcome: None)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set."""
        listener = asyncio.create_task(self._listen(stop))
        try:
            while not stop.is_set():
                try:
                    handled = await self.deliver_due()
                except Exception:  # the database may be down: wait and try again
                    log.exception("webhook relay round failed")
                    handled = 0
                if handled == BATCH:
                    continue
                self._wake.clear()
                waits = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
                await asyncio.wait(
                    waits, timeout=await self._idle_time(), return_when=asyncio.FIRST_COMPLETED
                )
                for task in waits:
                    task.cancel()
        finally:
            listener.cancel()

    async def _idle_time(self) -> float:
        """Until the next retry falls due, or the poll interval, whichever is sooner."""
        try:
            async with self._pool.connection() as conn:
                due_in = await store.seconds_until_next_due(conn)
        except Exception:
            return POLL_INTERVAL
        return POLL_INTERVAL if due_in is None else min(POLL_INTERVAL, max(0.01, due_in))

    async def _listen(self, stop: asyncio.Event) -> None:
        """Wake the relay as soon as a transaction with new deliveries commits."""
        while not stop.is_set():
            try:
                async with listen.channel(self._settings.database_url, store.CHANNEL) as wakes:
                    self._wake.set()  # what was queued while nobody listened
                    async for _ in wakes:
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception:  # polling still delivers; listen again shortly
                log.warning("webhook relay lost its LISTEN connection", exc_info=True)
            await asyncio.sleep(POLL_INTERVAL)

    async def deliver_due(self) -> int:
        """One round: claim due deliveries and attempt each; returns how many were attempted."""
        async with self._pool.connection() as conn:
            due = await store.claim_due(conn, BATCH, self._settings.webhook_lease)
        await asyncio.gather(*(self._attempt(delivery) for delivery in due))
        return len(due)

    async def _attempt(self, delivery: DueDelivery) -> None:
        started = time.monotonic()
        status_code, error = None, None
        try:
            status_code = await self._send(delivery)
        except UnsafeURL as exc:  # its text is for the owner (the guard logged the address)
            log.info("webhook delivery %s refused: %s", delivery.id, exc)
            error = str(exc)
        except (httpx.HTTPError, TimeoutError) as exc:
            log.info("webhook delivery %s could not connect: %r", delivery.id, exc)
            error = COULD_NOT_CONNECT
        except Exception:  # a sealed secret that no longer opens, say: keep trying
            log.exception("webhook delivery %s failed", delivery.id)
            error = NOT_SENT
        duration_ms = int((time.monotonic() - started) * 1000)
        outcome, next_at = self._outcome(delivery.attempts, status_code)
        self._on_outcome(outcome)
        async with self._pool.connection() as conn:
            await store.record_attempt(
                conn, delivery, status_code=status_code, error=error, duration_ms=duration_ms,
                outcome=outcome, next_attempt_at=next_at,
            )  # fmt: skip

    async def _send(self, delivery: DueDelivery) -> int:
        """The status code the endpoint answered; raises UnsafeURL, httpx.HTTPError or
        TimeoutError when there is none."""
        parse_url(delivery.url)  # the host is resolved and checked as it is connected to
        body = json.dumps(delivery.payload, separators=(",", ":"))
        message_id = webhook_id(delivery.notification_id)
        now = datetime.now(UTC)
        secret = self._box.open(delivery.secret_encrypted)
        request = self._http.build_request(
            "POST",
            delivery.url,
            content=body.encode(),
            headers={
                "content-type": "application/json",
                "user-agent": "assocflow-webhooks/1",
                "webhook-id": message_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": Webhook(secret).sign(message_id, now, body),
            },
        )
        async with asyncio.timeout(2 * self._timeout):  # however slowly its bytes come
            response = await self._http.send(request, stream=True)
        try:  # the answer is in: its body is only read to end the exchange cleanly
            async with asyncio.timeout(self._timeout):
                await _drain(response, BODY_CAP)
        except (httpx.HTTPError, TimeoutError):
            pass
        finally:
            await response.aclose()
        return response.status_code

    def _outcome(self, attempts: int, status_code: int | None) -> tuple[str, datetime | None]:
        if status_code is not None and 200 <= status_code < 300:
            return "delivered", None
        if status_code == 410:
            return "gone", None
        if attempts >= self._settings.webhook_max_attempts:
            return "failed", None
        wait = backoff(
            attempts, self._settings.webhook_backoff_base, self._settings.webhook_backoff_cap,
            random.random,
        )  # fmt: skip
        return "pending", datetime.now(UTC) + wait

    async def aclose(self) -> None:
        await self._http.aclose()


async def _drain(response: httpx.Response, cap: int) -> None:
    """Read the body as it comes over the wire (not decompressed) until its end or `cap`."""
    read = 0
    raw = cast(AsyncGenerator[bytes, None], response.aiter_raw())  # it is one
    async with contextlib.aclosing(raw) as chunks:
        async for chunk in chunks:
            read += len(chunk)
            if read >= cap:
                return
