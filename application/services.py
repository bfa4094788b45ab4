"""What the use cases run on: the database, Temporal (through its gateway), the settings and the
account-standing source. Each edge builds one (the API at start, the CLI per command) and passes it in."""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg_pool import AsyncConnectionPool

from application.admission import InFlight
from assocflow.settings import Settings
from store.accounts import AccountStandingSource
from workflows.gateway import Gateway


@dataclass(frozen=True)
class Services:
    pool: AsyncConnectionPool
    temporal: Gateway
    settings: Settings
    standing: AccountStandingSource
    # Submits and decisions under way in this process, and how many may be (application/admission.py).
    in_flight: InFlight = field(default_factory=InFlight)
