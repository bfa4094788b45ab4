"""An HTTP/1.1 client on one keep-alive TCP connection, which says when the server dropped it.

General-purpose clients (httpx) open a new connection quietly when the server closed the last
one; a test of "never a dropped connection" needs to see it: here every request goes on the same
socket, and a connection the server closed is `Dropped`, never retried.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11


class Dropped(Exception):
    """The server closed the connection instead of answering (or while answering)."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class KeepAliveClient:
    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._headers = headers or {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._conn = h11.Connection(h11.CLIENT)
        self.connections = 0  # how many TCP connections this client has opened

    async def connect(self) -> None:
        """Open the connection (OSError if nothing listens)."""
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        self.connections += 1

    async def __aenter__(self) -> KeepAliveClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> Answer:
        """One request on the connection; raises `Dropped` if the server closed it."""
        assert self._reader is not None and self._writer is not None, "use `async with`"
        if self._conn.our_state is h11.MUST_CLOSE or self._conn.their_state is h11.MUST_CLOSE:
            raise Dropped("the server said it would close the connection")
        body = b"" if json_body is None else json.dumps(json_body).encode()
        sent = {"host": f"{self._host}:{self._port}", **self._headers, **(headers or {})}
        sent["content-length"] = str(len(body))
        if json_body is not None:
            sent["content-type"] = "application/json"
        data = self._conn.send(h11.Request(method=method, target=path, headers=list(sent.items())))
        data += self._conn.send(h11.Data(data=body)) if body else b""
        data += self._conn.send(h11.EndOfMessage())
        try:
            self._writer.write(data)
            await self._writer.drain()
            return await self._answer()
        except (ConnectionError, h11.RemoteProtocolError) as error:
            raise Dropped(repr(error)) from error

    async def _answer(self) -> Answer:
        assert self._reader is not None
        status, headers, chunks = 0, {}, []
        while True:
            event = self._conn.next_event()
            if event is h11.NEED_DATA:
                data = await self._reader.read(65536)
                if not data:
                    raise Dropped("the server closed the connection")
                self._conn.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode().lower(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                if self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE:
                    self._conn.start_next_cycle()  # else the next request is `Dropped`
                return Answer(status, headers, b"".join(chunks))
            elif isinstance(event, h11.ConnectionClosed):
                raise Dropped("the server closed the connection")
