"""The console's edges as an attacker with curl meets them (issue 27): the sign-in form's answers
say nothing of which emails exist; every form needs its CSRF token, bound to the session and new
at each sign-in and sign-out; bodies nobody can read are 400 problem documents; cookies end with
the browser and are `__Host-` under https; forwarded headers are believed from the proxy only;
the invitation's token stays out of the logs; /metrics is not served through the public proxy."""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from application import sessions
from application.principal import Principal
from application.services import Services
from assocflow.settings import Settings
from server.__main__ import proxy_options
from server.app import create_app
from store.accounts import PostgresStanding
from tests.mfa import Clock
from workflows.gateway import Gateway

pytestmark = pytest.mark.devserver

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = Principal(kind="operator", subject_id="olivia")
PASSWORD = "correct horse battery"
TOKEN_FIELD = re.compile(r'name="csrftoken" value="([^"]*)"')


@contextlib.asynccontextmanager
async def console(
    settings: Settings, temporal, *, address: str = "198.51.100.7"
) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process, reached from `address`, over the public URL's scheme."""
    app = create_app(settings, temporal=temporal)
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=settings.public_url) as client,
    ):
        yield client


async def form_token(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    found = TOKEN_FIELD.search(page.text)
    assert found, page.text[:300]
    return found.group(1)


async def invited_person(svc: Services, factory) -> tuple[str, str]:
    """A partner admin with a password; returns (email, invitation link path of a new one)."""
    partner = await factory.partner()
    person_id, _ = await factory.user(partner, ["admin"])
    link = await sessions.invite(svc, OPERATOR, person_id)
    await sessions.accept_invitation(svc, link.url.rsplit("/", 1)[1], PASSWORD, client="setup")
    [row] = await factory.fetch("SELECT email FROM people WHERE id = %s", person_id)
    again = await sessions.invite(svc, OPERATOR, person_id)
    return row["email"], again.url.split("://", 1)[1].split("/", 1)[1]


@pytest.fixture
def svc(settings, pool, dev_env) -> Services:
    return Services(
        pool, Gateway(dev_env.client, settings.task_queue), settings, PostgresStanding(pool)
    )


# --- 1. no enumeration ------------------------------------------------------------------------


async def test_the_sign_in_form_answers_a_known_and_an_unknown_email_alike_at_every_attempt(
    settings, dev_env, svc, factory, monkeypatch
):
    email, _ = await invited_person(svc, factory)
    unknown = f"nobody-{uuid.uuid4().hex}@example.test"
    # The attempts meet the address's rate limit (10 a minute) as well as its lock: at one
    # moment, so that a minute's turn between two attempts cannot open a new window for one of
    # a pair; from an address of this test's own, whose hits no other test adds to.
    monkeypatch.setattr(sessions, "now", Clock().now)
    address = f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"
    async with console(settings, dev_env.client, address=address) as c:
        token = await form_token(c, "/console/sign-in")

        async def attempt(who: str) -> tuple[int, str, str | None]:
            sent = {"csrftoken": token, "email": who, "password": "not it!", "next": "/console/"}
            answer = await c.post("/console/sign-in", data=sent)
            return (
                answer.status_code,
                answer.text.replace(who, "EMAIL"),
                answer.headers.get("retry-after"),
            )

        seen = []
        for number in range(1, 8):
            known, other = await attempt(email), await attempt(unknown)
            assert known == other, number
            seen.append(known[0])
    assert seen == [422] * 4 + [429] * 3


# --- 2 and 11. CSRF ---------------------------------------------------------------------------


async def test_the_invitation_form_refuses_a_cross_site_post_without_cookies(
    settings, dev_env, svc, factory
):
    _, link = await invited_person(svc, factory)
    async with console(settings, dev_env.client) as c:
        forged = await c.post(
            f"/{link}",
            data={"password": "attacker's password", "password_again": "attacker's password"},
        )
        assert forged.status_code == 403 and "set-cookie" not in forged.headers
        # The link still works for the person it was sent to, from its own page.
        token = await form_token(c, f"/{link}")
        mine = {
            "csrftoken": token,
            "password": "my own new password",
            "password_again": "my own new password",
        }
        accepted = await c.post(f"/{link}", data=mine)
        assert accepted.status_code == 303, accepted.text[:300]


async def test_the_csrf_token_is_bound_to_the_session_and_new_at_sign_in_and_sign_out(
    settings, dev_env, svc, factory
):
    email, _ = await invited_person(svc, factory)
    async with console(settings, dev_env.client) as c:
        before = await form_token(c, "/console/sign-in")
        signed_in = await c.post(
            "/console/sign-in",
            data={"csrftoken": before, "email": email, "password": PASSWORD, "next": "/console/"},
        )
        assert signed_in.status_code == 303
        assert 'csrftoken=""' in signed_in.headers.get("set-cookie", "")  # the old one forgotten
        during = await form_token(c, "/console/settings")
        assert during != before
        # The token from before signing in (planted, or left over) does nothing now.
        stale = await c.post("/console/settings", data={"csrftoken": before})
        assert stale.status_code == 403
        # Nor does a token minted for another session, with this session's cookie.
        async with console(settings, dev_env.client) as other:
            theirs = await form_token(other, "/console/sign-in")
        assert (await c.post("/console/settings", data={"csrftoken": theirs})).status_code == 403

        signed_out = await c.post("/console/sign-out", data={"csrftoken": during})
        assert signed_out.status_code == 303
        after = await form_token(c, "/console/sign-in")
        assert after not in (before, during)


async def test_cookies_end_with_the_browser_and_are_host_prefixed_under_https(
    settings, dev_env, svc, factory
):
    email, _ = await invited_person(svc, factory)
    for public_url, session_cookie in (
        ("http://assocflow.test", "assocflow_session"),
        ("https://assocflow.test", "__Host-assocflow_session"),
    ):
        at = settings.model_copy(update={"public_url": public_url})
        async with console(at, dev_env.client) as c:
            page = await c.get("/console/sign-in")
            token = TOKEN_FIELD.search(page.text).group(1)
            signed_in = await c.post(
                "/console/sign-in",
                data={
                    "csrftoken": token,
                    "email": email,
                    "password": PASSWORD,
                    "next": "/console/",
                },
            )
            cookies = signed_in.headers.get_list("set-cookie")
        [session] = [c for c in cookies if c.startswith(f"{session_cookie}=")]
        attributes = {part.strip().split("=")[0].lower() for part in session.split(";")[1:]}
        assert "expires" not in attributes and "max-age" not in attributes  # a browser session's
        assert {"httponly", "samesite", "path"} <= attributes
        if public_url.startswith("https"):
            assert "secure" in attributes and "Path=/;" in session + ";"
            assert any(
                c.startswith("__Host-csrftoken=") for c in page.headers.get_list("set-cookie")
            )


# --- 5. what keeps a session from going idle ---------------------------------------------------


async def test_a_pages_own_refreshes_never_keep_its_session_from_going_idle(
    settings, dev_env, svc, factory
):
    email, _ = await invited_person(svc, factory)
    async with console(settings, dev_env.client) as c:
        token = await form_token(c, "/console/sign-in")
        await c.post(
            "/console/sign-in",
            data={"csrftoken": token, "email": email, "password": PASSWORD, "next": "/console/"},
        )
        ten_minutes_ago = "now() - interval '10 minutes'"
        [person] = await factory.fetch(
            "SELECT id FROM people WHERE lower(email) = lower(%s)", email
        )

        async def last_seen() -> object:
            [row] = await factory.fetch(
                "SELECT last_seen_at FROM console_sessions WHERE person_id = %s"
                " AND signed_out_at IS NULL ORDER BY created_at DESC LIMIT 1",
                person["id"],
            )
            return row["last_seen_at"]

        await factory.fetch(
            f"UPDATE console_sessions SET last_seen_at = {ten_minutes_ago}"
            " WHERE person_id = %s RETURNING id",
            person["id"],
        )
        before = await last_seen()
        refreshed = await c.get("/console/messages/badge", headers={"HX-Request": "true"})
        assert refreshed.status_code == 200
        assert await last_seen() == before  # the badge refreshing itself is nobody's doing
        assert (await c.get("/console/records")).status_code == 200
        assert await last_seen() > before  # a page the person opened is


# --- 8. bodies nobody can read ----------------------------------------------------------------


async def test_unreadable_console_bodies_are_400_problem_documents_with_no_traceback(
    settings, dev_env, caplog
):
    async with console(settings, dev_env.client) as c:
        token = await form_token(c, "/console/sign-in")
        sends = [
            {"content": b"--x--", "headers": {"content-type": "multipart/form-data"}},
            {"content": b"--x--", "headers": {"content-type": "multipart/form-data;boundary=x"}},
            {
                "content": b"email=\xff\xfe&password=x&csrftoken=" + token.encode(),
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            {
                "content": "csrftoken=é".encode(),
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            {"content": b"", "headers": {"x-csrftoken": b"\xe9"}},
            {"content": b"", "headers": {"cookie": b"csrftoken=\xff\xfe"}},
        ]
        with caplog.at_level(logging.INFO):
            for sent in sends:
                answer = await c.post("/console/sign-in", **sent)
                assert answer.status_code in (400, 403), (sent, answer.status_code)
                if answer.status_code == 400:
                    assert answer.headers["content-type"] == "application/problem+json"
                    assert answer.json()["code"] == "bad_request"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


# --- 9. behind a proxy ------------------------------------------------------------------------


async def test_forwarded_headers_are_believed_from_the_trusted_proxy_only():
    seen: list[tuple[str, str]] = []

    async def app(scope, receive, send):
        seen.append((scope["client"][0], scope["scheme"]))

    def through(settings: Settings) -> ProxyHeadersMiddleware | None:
        options = proxy_options(settings)
        if not options["proxy_headers"]:
            return None
        return ProxyHeadersMiddleware(app, trusted_hosts=options["forwarded_allow_ips"])

    forwarded = [(b"x-forwarded-for", b"203.0.113.9"), (b"x-forwarded-proto", b"https")]
    assert through(Settings()) is None  # by default nobody is believed: the peer is the client
    middleware = through(Settings(trusted_proxies="172.30.80.10"))
    assert middleware is not None
    for peer in ("172.30.80.10", "172.30.80.11"):
        scope = {"type": "http", "client": (peer, 1), "scheme": "http", "headers": forwarded}
        await middleware(scope, None, None)
    assert seen == [("203.0.113.9", "https"), ("172.30.80.11", "http")]
    with pytest.raises(ValidationError, match="not an address or a network"):
        Settings(trusted_proxies="the proxy")


def test_the_api_refuses_to_start_when_the_public_url_and_the_proxys_scheme_disagree():
    for said in ({"site": "assocflow.example.com"}, {"proxy_scheme": "https"}):
        with pytest.raises(ValidationError, match="set ASSOCFLOW_PUBLIC_URL to the https://"):
            Settings(public_url="http://127.0.0.1:8000", **said)
        assert Settings(public_url="https://assocflow.example.com", **said)
    with pytest.raises(ValidationError, match="by http"):
        Settings(public_url="https://assocflow.example.com", proxy_scheme="http")


def test_the_compose_proxy_is_the_one_trusted_and_serves_no_metrics():
    import yaml

    stack = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    api = stack["services"]["api"]["environment"]
    proxy_address = stack["services"]["proxy"]["networks"]["default"]["ipv4_address"]
    assert api["ASSOCFLOW_TRUSTED_PROXIES"] == proxy_address
    assert "FORWARDED_ALLOW_IPS" not in api
    assert "respond /metrics 404" in (ROOT / "deploy" / "caddy" / "Caddyfile").read_text()


# --- 11. the invitation's token in an error's log ---------------------------------------------


async def test_an_unexpected_error_on_the_invitation_page_logs_the_path_without_its_token(
    settings, dev_env, monkeypatch, capsys
):
    from assocflow import logs

    async def broken(svc, token):
        raise RuntimeError(f"something broke reading {token}")

    monkeypatch.setattr(sessions, "invitation", broken)
    token = "Zm9vYmFyYmF6cXV4LW5vdC1hLXJlYWwtdG9rZW4"
    logs.configure()
    try:
        async with console(settings, dev_env.client) as c:
            answer = await c.get(f"/console/invitation/{token}")
    finally:
        logging.getLogger().handlers.clear()
    assert answer.status_code == 500
    out = capsys.readouterr().out
    assert "/console/invitation/[redacted]" in out and "something broke" in out
    assert token not in out
