"""CPU-bound work — argon2id, decrypting secrets, a TOTP's HMAC, drawing a QR code — runs in a
small pool of threads of its own, never on the event loop.

The pool keeps one core for the event loop: with every core hashing (asyncio's default pool has
up to cores + 4 threads), the loop would wait for the scheduler and every other request with it.
Verifications queue behind each other instead; everything else is answered as usual.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

THREAD_NAME_PREFIX = "assocflow-cpu"

P = ParamSpec("P")
R = TypeVar("R")

_POOL = ThreadPoolExecutor(
    max_workers=max(1, (os.cpu_count() or 2) - 1), thread_name_prefix=THREAD_NAME_PREFIX
)


async def off_loop(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """`fn(*args, **kwargs)` in the CPU pool, awaited from the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOL, lambda: fn(*args, **kwargs))
