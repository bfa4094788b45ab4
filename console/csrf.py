"""CSRF protection of the console's forms: asgi-csrf's signed double-submit token, bound to the
session once there is one.

- Signed out (the sign-in and invitation forms), the token is asgi-csrf's: random, signed, in a
  cookie and in the form. Every console form needs it, with or without cookies: a cross-site POST
  that carries no cookie at all (a login CSRF through the invitation form) is refused too.
- Signed in, the token is derived from the session's own token (an HMAC of it, signed): a token
  planted in a cookie by a sibling site, or one from before signing in, is worth nothing, and a
  new session (signing in) or none (signing out) means another token. Signing in and out also
  forget the anonymous cookie, so that the next signed-out form gets a new one.
- A body the middleware cannot read (multipart without its boundary, a form that is not UTF-8) is
  400 with a problem document, not an error.

The JSON API is not covered: it authenticates with bearer tokens, which a browser never sends on
its own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from asgi_csrf import asgi_csrf
from fastapi import Request
from fastapi.responses import Response
from itsdangerous import URLSafeSerializer
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from assocflow import logs
from assocflow.settings import Settings
from console.auth import secure_cookies, session_cookie
from console.web import templates
from domain.problems import MEDIA_TYPE, ProblemCode, document

log = logs.get(__name__)

PREFIX = "/console"
CSRF_COOKIE = "csrftoken"
SECURE_CSRF_COOKIE = "__Host-csrftoken"
# asgi-csrf's salt for the tokens it signs (its `signing_namespace`).
NAMESPACE = "csrftoken"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
_ENTERED = "assocflow.csrf_passed"


def csrf_cookie(secure: bool) -> tuple[str, str]:
    """The anonymous token's cookie: name and path (`__Host-` under https)."""
    return (SECURE_CSRF_COOKIE, "/") if secure else (CSRF_COOKIE, PREFIX)


def forget_csrf_cookie(request: Request, response: Response) -> None:
    """At signing in and out: the next signed-out form gets a new token."""
    secure = secure_cookies(request)
    name, path = csrf_cookie(secure)
    response.delete_cookie(name, path=path, secure=secure, samesite="lax")


def signing_secret(settings: Settings) -> str:
    """The key CSRF tokens are signed with: the same in every API process (derived from the
    encryption key when there is one), so that a form from one is accepted by another."""
    key = settings.encryption_key
    if key is None:
        return secrets.token_urlsafe(32)  # one process, locally
    first = key.get_secret_value().split(",")[0].strip()
    return hashlib.sha256(b"assocflow console csrf\n" + first.encode()).hexdigest()


class ConsoleCsrf:
    """The console's forms carry their token; see the module's docstring."""

    def __init__(self, app: ASGIApp, *, secret: str, secure: bool) -> None:
        self._app = app
        self._secure = secure
        self._secret = secret.encode()
        self._signer = URLSafeSerializer(secret)
        self._session_cookie = session_cookie(secure)
        cookie_name, cookie_path = csrf_cookie(secure)
        self._cookie_name = cookie_name
        self._protected = asgi_csrf(
            self._passed,
            signing_secret=secret,
            signing_namespace=NAMESPACE,
            cookie_name=cookie_name,
            cookie_path=cookie_path,
            cookie_secure=secure,
            send_csrf_failed=_refused,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self._app(scope, receive, send)
            return
        unsafe = scope["method"] not in SAFE_METHODS
        headers = dict(scope.get("headers") or [])
        if unsafe and not headers.get(b"cookie"):
            await _refused(scope, send, None)  # no form of ours is sent without our cookie
            return
        if unsafe and not _readable_content_type(headers.get(b"content-type", b"")):
            await _unreadable(send)
            return
        passed: list[bool] = []
        scope = {**self._bound(scope), _ENTERED: passed}
        try:
            await self._protected(scope, receive, send)
        except (ValueError, TypeError, IndexError, AssertionError) as error:
            # asgi-csrf reading a body it cannot parse (UnicodeDecodeError is a ValueError);
            # anything raised once the page itself runs is the page's own.
            if passed:
                raise
            log.info("unreadable console form", path=scope["path"], error=type(error).__name__)
            await _unreadable(send)

    async def _passed(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_ENTERED].append(True)
        await self._app(scope, receive, send)

    def _bound(self, scope: Scope) -> Scope:
        """With a session cookie, the token asgi-csrf expects is the session's (it reads it from
        the request's cookies, so it is put there in place of whatever the browser sent)."""
        cookies = _cookies(scope)
        session = cookies.get(self._session_cookie)
        if not session:
            return scope
        cookies[self._cookie_name] = self._token_of(session)
        header = "; ".join(f"{name}={value}" for name, value in cookies.items())
        headers = [(k, v) for k, v in scope.get("headers") or [] if k != b"cookie"]
        return {**scope, "headers": [*headers, (b"cookie", header.encode("latin-1"))]}

    def _token_of(self, session: str) -> str:
        mac = hmac.new(self._secret, session.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return str(self._signer.dumps(mac.hexdigest(), NAMESPACE))


def _cookies(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in scope.get("headers") or []:
        if name == b"cookie":
            found.update(cookie_parser(value.decode("latin-1")))
    return found


def _readable_content_type(value: bytes) -> bool:
    """asgi-csrf reads a multipart form only with `; boundary=` as it expects it."""
    kind = value.split(b";", 1)[0].strip().lower()
    if kind != b"multipart/form-data":
        return True
    parts = value.split(b"; boundary=")
    return len(parts) == 2 and bool(parts[1].strip())


async def _unreadable(send: Send) -> None:
    status = 400
    body = document(
        status,
        ProblemCode.BAD_REQUEST,
        "The form could not be read: send it as the page does, URL-encoded or multipart with"
        " its boundary, in UTF-8.",
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", MEDIA_TYPE.encode()), (b"cache-control", b"no-store")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def _refused(scope: Scope, send: Send, message_id: Any) -> None:
    """A form without its token (or with another's): a page that says what to do."""
    body = templates.get_template("csrf_refused.html").render().encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
