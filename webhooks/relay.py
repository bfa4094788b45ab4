"""The webhook relay: delivers queued notifications to their endpoints, signed per Standard
Webhooks, with exponential backoff and jitter over hours.

It runs beside the Temporal worker (or on its own) and shares nothing with the decision path:
a decision commits its notifications and returns; the relay is woken by the commit (LISTEN) and
delivers afterwards. Delivery is at least once: a worker that dies mid-delivery leaves a lease
that runs out, and the delivery is tried again with the same `webhook-id`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool
from standardwebhooks.webhooks import Webhook

from assocflow.settings import Settings
from store import webhooks as store
from store.rows import DueDelivery
from webhooks.secrets import SecretBox
from webhooks.urls import UnsafeURL, check_url

log = logging.getLogger(__name__)

BATCH = 20
POLL_INTERVAL = 2.0


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
        http: httpx.AsyncClient | None = None,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        self._pool = pool
        self._settings = settings
        key = settings.encryption_key.get_secret_value() if settings.encryption_key else None
        self._box = SecretBox(key)
        self._http = http or httpx.AsyncClient(follow_redirects=False)
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
                async with await psycopg.AsyncConnection.connect(
                    self._settings.database_url, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {store.CHANNEL}")
                    async for _ in conn.notifies():
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
        except UnsafeURL as exc:
            error = str(exc)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        except Exception as exc:  # a sealed secret that no longer opens, say: keep trying
            log.exception("webhook delivery %s failed", delivery.id)
            error = f"{type(exc).__name__}"
        duration_ms = int((time.monotonic() - started) * 1000)
        outcome, next_at = self._outcome(delivery.attempts, status_code)
        self._on_outcome(outcome)
        async with self._pool.connection() as conn:
            await store.record_attempt(
                conn, delivery, status_code=status_code, error=error, duration_ms=duration_ms,
                outcome=outcome, next_attempt_at=next_at,
            )  # fmt: skip

    async def _send(self, delivery: DueDelivery) -> int:
        await check_url(delivery.url, allow_private=self._settings.webhook_allow_private)
        body = json.dumps(delivery.payload, separators=(",", ":"))
        message_id = webhook_id(delivery.notification_id)
        now = datetime.now(UTC)
        secret = self._box.open(delivery.secret_encrypted)
        response = await self._http.post(
            delivery.url,
            content=body.encode(),
            headers={
                "content-type": "application/json",
                "user-agent": "assocflow-webhooks/1",
                "webhook-id": message_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": Webhook(secret).sign(message_id, now, body),
            },
            timeout=self._settings.webhook_timeout.total_seconds(),
        )
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
