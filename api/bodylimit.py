"""Limits on what a request may carry, checked before anything reads it: a cap on the body (413
`payload_too_large`) and no NUL character in the query string (422), which PostgreSQL cannot
store or compare."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import language_of, problem_response
from domain.problems import ProblemCode
from domain.text import Text


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b""):
            response = problem_response(
                422,
                ProblemCode.VALIDATION_ERROR,
                Text("The query string must not contain the NUL character."),
                language=language_of(scope),
            )
            await response(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            ProblemCode.PAYLOAD_TOO_LARGE,
            Text("The request body is larger than {max_bytes} bytes.", max_bytes=self.max_bytes),
            language=language_of(scope),
        )
        await response(scope, receive, send)
