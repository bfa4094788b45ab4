"""A receiver for assocflow's webhooks: run it as it is, or start your own from it.

    pip install standardwebhooks
    ASSOCFLOW_WEBHOOK_SECRET=whsec_... python webhook_receiver.py --port 8080

Register its address as an endpoint (`POST /v1/webhook-endpoints`) and put the `whsec_` secret
the answer shows (once) in ASSOCFLOW_WEBHOOK_SECRET. For each delivery it

1. verifies the signature and the timestamp (Standard Webhooks, with the `standardwebhooks`
   library): a forged, altered or stale delivery is answered 401 and dropped;
2. keeps the event under its `webhook-id` in a SQLite file (`--state`): assocflow delivers at
   least once, and a retry carries the same id, so an id kept already is answered 204 and not
   handled again;
3. answers 204 at once, and handles the event afterwards, in a thread of its own: assocflow
   waits at most 10 seconds for an answer, and retries what it gets no 2xx for. An event kept
   but not yet handled when the process stops is handled when it starts again.

`handle` is where your work goes; here it prints each event as one JSON line.
Only the Python standard library and `standardwebhooks` are needed.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

MAX_BODY = 1024 * 1024


def handle(webhook_id: str, event: dict[str, Any]) -> None:
    """Your work: update your CRM, tell someone, ... Here: print the event on one line."""
    request = event["data"]["request"]
    print(
        json.dumps(
            {
                "webhook_id": webhook_id,
                "type": event["type"],
                "request_id": request["id"],
                "status": request["status"],
                "event": event,
            }
        ),
        flush=True,
    )


class Inbox:
    """Events kept by `webhook-id` (each once), and which of them are handled."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.arrived = threading.Event()
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS events (webhook_id TEXT PRIMARY KEY, body TEXT NOT"
                " NULL, received_at REAL NOT NULL, handled_at REAL)"
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)  # autocommit
        try:
            yield db
        finally:
            db.close()

    def keep(self, webhook_id: str, body: str) -> bool:
        """Keep an event; False if its id was kept already (a duplicate)."""
        with self._connect() as db:
            kept = db.execute(
                "INSERT OR IGNORE INTO events (webhook_id, body, received_at) VALUES (?, ?, ?)",
                (webhook_id, body, time.time()),
            ).rowcount
        if kept:
            self.arrived.set()
        return kept == 1

    def work(self, delay: float) -> None:
        """Handle kept events in the order they came, forever."""
        while True:
            with self._connect() as db:
                row = db.execute(
                    "SELECT webhook_id, body FROM events WHERE handled_at IS NULL"
                    " ORDER BY received_at, rowid LIMIT 1"
                ).fetchone()
            if row is None:
                self.arrived.wait(timeout=5)
                self.arrived.clear()
                continue
            webhook_id, body = row
            time.sleep(delay)
            try:
                handle(webhook_id, json.loads(body))
            except Exception as exc:  # noqa: BLE001 - keep working; try this one again later
                print(f"handling {webhook_id} failed: {exc!r}", file=sys.stderr, flush=True)
                time.sleep(5)
                continue
            with self._connect() as db:
                db.execute(
                    "UPDATE events SET handled_at = ? WHERE webhook_id = ?",
                    (time.time(), webhook_id),
                )


def make_handler(webhook: Webhook, inbox: Inbox) -> type[BaseHTTPRequestHandler]:
    class Receive(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY:
                self._answer(413)
                return
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                webhook.verify(body, headers)
            except WebhookVerificationError as exc:
                print(f"refused a delivery: {exc}", file=sys.stderr, flush=True)
                self._answer(401)
                return
            webhook_id = headers["webhook-id"]
            if not inbox.keep(webhook_id, body.decode()):
                print(f"duplicate {webhook_id}: handled once already", file=sys.stderr, flush=True)
            self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return Receive


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--state", default="webhook-receiver.sqlite3", help="the SQLite file")
    parser.add_argument(
        "--handle-delay",
        type=float,
        default=0.0,
        help="pretend each event takes this many seconds to handle (answers do not wait)",
    )
    args = parser.parse_args(argv)
    secret = os.environ.get("ASSOCFLOW_WEBHOOK_SECRET")
    if not secret:
        parser.error("set ASSOCFLOW_WEBHOOK_SECRET to the endpoint's whsec_ secret")
    inbox = Inbox(args.state)
    threading.Thread(target=inbox.work, args=(args.handle_delay,), daemon=True).start()
    server = ThreadingHTTPServer((args.host, args.port), make_handler(Webhook(secret), inbox))
    print(f"listening on http://{args.host}:{args.port}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
