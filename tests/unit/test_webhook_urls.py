"""The webhook URL guard and the transport that connects to what it checked, with a fake
resolver: a delivery resolves its host once, refuses any address that is not public, and
connects to the very address it checked, with the URL's Host header and TLS verified for the
URL's name. What an owner is told never names an address."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import ssl
import uuid
from collections.abc import Iterable
from pathlib import Path

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from assocflow.settings import Settings
from store.rows import DueDelivery
from webhooks.relay import BODY_CAP, WebhookRelay
from webhooks.secrets import SecretBox, new_key, new_secret
from webhooks.transport import PinnedTransport
from webhooks.urls import NOT_PUBLIC, UnsafeURL, check_url, is_public, parse_url

PUBLIC = "93.184.215.14"
PUBLIC6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"
NO_CONTENT = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"
# An IPv4 address, or an IPv6 one (two colons with hex digits around them).
ADDRESS = re.compile(r"\d+\.\d+|[0-9a-f]*:[0-9a-f]*:", re.IGNORECASE)


class FakeResolver:
    """Answers from a table; a name given a list of answers answers the next one at each call
    (and the last one from then on). Unknown names do not resolve."""

    def __init__(self, table: dict[str, list[str] | list[list[str]]]) -> None:
        self._table = table
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        answers = self._table.get(host)
        if answers is None:
            raise OSError(f"{host} does not resolve")
        if answers and isinstance(answers[0], list):
            asked = sum(1 for called, _ in self.calls if called == host)
            return list(answers[min(asked, len(answers)) - 1])
        return list(answers)  # type: ignore[arg-type]


class Wire(httpcore.AsyncNetworkBackend):
    """A network with one server on it at every address: records where each connection went,
    what was sent on it and the TLS name asked for; answers `response` (then, if `endless`,
    body bytes for ever, 16 KiB a read; if `hang`, nothing ever)."""

    def __init__(self, response: bytes = NO_CONTENT, *, endless: bool = False, hang: bool = False):
        self.response = response
        self.endless = endless
        self.hang = hang
        self.connected: list[tuple[str, int]] = []
        self.sent = bytearray()
        self.server_names: list[str | None] = []
        self.served = 0

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connected.append((host, port))
        return _Stream(self)


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, wire: Wire) -> None:
        self._wire = wire
        self._pending = [wire.response]

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        if self._wire.hang:
            await asyncio.sleep(3600)
        if self._pending:
            return self._pending.pop(0)
        if self._wire.endless:
            self._wire.served += 16 * 1024
            return b"x" * (16 * 1024)
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self._wire.sent += buffer

    async def aclose(self) -> None:
        pass

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        self._wire.server_names.append(server_hostname)
        return self


def client(wire: Wire, resolve: FakeResolver, *, allow_private: bool = False) -> httpx.AsyncClient:
    transport = PinnedTransport(allow_private=allow_private, resolve=resolve, backend=wire)
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)


def host_header(sent: bytes) -> str:
    [value] = re.findall(rb"(?im)^host: *(.*?)\r$", sent)
    return value.decode()


def assert_says_nothing_of_addresses(message: str) -> None:
    assert not ADDRESS.search(message), message
    assert "rror" not in message and "Errno" not in message, message


# --- what is refused ----------------------------------------------------------------------------

# Every name resolves to a public address unless the case says otherwise: what is refused is
# refused for what the guard checks, not for a resolver's failure.
EVERYTHING_PUBLIC = [PUBLIC]

REFUSED = [
    # (case, URL, what the resolver answers for the URL's host)
    ("several answers, one private", "http://multi.example/", [PUBLIC, "10.0.0.7"]),
    ("public then loopback in one answer", "http://rebind.example/", [PUBLIC, "127.0.0.1"]),
    ("loopback", "http://loop.example/", ["127.0.0.1"]),
    ("IPv6 loopback", "http://loop6.example/", ["::1"]),
    ("private", "http://lan.example/", ["192.168.1.20"]),
    ("unique local IPv6", "http://ula.example/", ["fd00::1"]),
    ("CGNAT", "http://cgnat.example/", ["100.64.0.1"]),
    ("CGNAT: a cloud's metadata service", "http://meta.example/", ["100.100.100.200"]),
    ("6to4", "http://sixtofour.example/", ["2002:7f00:1::1"]),
    ("Teredo", "http://teredo.example/", ["2001:0:4136:e378:8000:63bf:3fff:fdd2"]),
    ("NAT64 well-known prefix", "http://nat64.example/", ["64:ff9b::7f00:1"]),
    ("NAT64 local-use prefix", "http://nat64local.example/", ["64:ff9b:1::a00:1"]),
    ("IPv4-mapped IPv6 of loopback", "http://mapped.example/", ["::ffff:127.0.0.1"]),
    ("IPv4-mapped IPv6 of a public address", "http://mappedpub.example/", [f"::ffff:{PUBLIC}"]),
    ("IPv4-compatible IPv6", "http://compat.example/", ["::7f00:1"]),
    ("multicast", "http://mcast.example/", ["224.0.0.251"]),
    ("IPv6 multicast", "http://mcast6.example/", ["ff02::1"]),
    ("unspecified", "http://zero.example/", ["0.0.0.0"]),  # noqa: S104
    ("IPv6 unspecified", "http://zero6.example/", ["::"]),
    ("link-local: metadata", "http://linklocal.example/", ["169.254.169.254"]),
    ("IPv6 link-local", "http://linklocal6.example/", ["fe80::1"]),
    ("IPv6 site-local", "http://sitelocal6.example/", ["fec0::1"]),
    ("documentation range", "http://doc.example/", ["192.0.2.1"]),
    ("reserved", "http://reserved.example/", ["240.0.0.1"]),
    ("trailing dot, private", "http://internal.example./", ["10.1.2.3"]),
    ("IDNA name, loopback", "http://bücher.example/", ["127.0.0.1"]),
    # Addresses written in the URL, in every form inet_aton reads: never given to the resolver
    # (which here calls every name public).
    ("decimal IPv4", "http://2130706433/", EVERYTHING_PUBLIC),
    ("octal IPv4", "http://0177.0.0.1/", EVERYTHING_PUBLIC),
    ("hex IPv4", "http://0x7f.0.0.1/", EVERYTHING_PUBLIC),
    ("short IPv4", "http://127.1/", EVERYTHING_PUBLIC),
    ("IPv4 with a trailing dot", "http://127.0.0.1./", EVERYTHING_PUBLIC),
    ("a public IPv4 in decimal", "http://1572394766/", EVERYTHING_PUBLIC),
    ("not an IPv4 address", "http://1.2.3.4.5/", EVERYTHING_PUBLIC),
    ("IPv6 literal, mapped", "http://[::ffff:127.0.0.1]/", EVERYTHING_PUBLIC),
    ("IPv6 literal, 6to4", "http://[2002:a00:1::1]/", EVERYTHING_PUBLIC),
    ("IPv4 literal, metadata", "http://169.254.169.254/latest/meta-data", EVERYTHING_PUBLIC),
    ("IPv4 literal, CGNAT", "http://100.100.100.200/", EVERYTHING_PUBLIC),
    # Names of this machine, whatever a resolver says of them.
    ("localhost", "http://localhost/", EVERYTHING_PUBLIC),
    ("localhost with a trailing dot", "http://localhost./", EVERYTHING_PUBLIC),
    ("a name under localhost", "http://api.localhost/", EVERYTHING_PUBLIC),
    # Names that are not valid.
    ("invalid IDNA: a symbol", "http://☃.example/", EVERYTHING_PUBLIC),
    ("invalid IDNA: a bad A-label", "http://xn--zz.example/", EVERYTHING_PUBLIC),
    ("not a host name", "http://exa%20mple.example/", EVERYTHING_PUBLIC),
]


def resolver_for(url: str, answers: list[str]) -> FakeResolver:
    """`answers` for the URL's host (IDNA-encoded, as the guard asks for it), and every other
    name public: so a literal or a name the guard refuses by itself is refused by the guard."""
    table: dict[str, list[str] | list[list[str]]] = {}
    with contextlib.suppress(UnsafeURL):
        table[parse_url(url).host] = answers
    return _PublicByDefault(table)


class _PublicByDefault(FakeResolver):
    async def __call__(self, host: str, port: int) -> list[str]:
        if host not in self._table:
            self.calls.append((host, port))
            return [PUBLIC]
        return await super().__call__(host, port)


@pytest.mark.parametrize(("case", "url", "answers"), REFUSED, ids=[c[0] for c in REFUSED])
async def test_an_endpoint_that_is_not_public_is_refused_at_registration(case, url, answers):
    resolve = resolver_for(url, answers)
    with pytest.raises(UnsafeURL) as refused:
        await check_url(url, allow_private=False, resolve=resolve)
    assert_says_nothing_of_addresses(str(refused.value))


@pytest.mark.parametrize(("case", "url", "answers"), REFUSED, ids=[c[0] for c in REFUSED])
async def test_a_delivery_to_an_address_that_is_not_public_never_connects(case, url, answers):
    resolve, wire = resolver_for(url, answers), Wire()
    async with client(wire, resolve) as http:
        with pytest.raises((UnsafeURL, httpx.InvalidURL)):
            parse_url(url)  # what the relay checks before it sends
            await http.post(url, content=b"{}")
    assert wire.connected == []
    assert len(resolve.calls) <= 1


def test_the_ranges_that_are_not_public():
    import ipaddress

    for text in (
        "100.64.0.0", "100.127.255.255", "2002::", "2002:ffff::1", "2001::", "2001:0:ffff::1",
        "64:ff9b::", "64:ff9b::ffff:ffff", "64:ff9b:1::", "64:ff9b:1:ffff::1", "::ffff:0:0",
        "::ffff:8.8.8.8", "::8.8.8.8", "::1", "::", "0.0.0.0", "127.255.0.1", "169.254.0.1",  # noqa: S104
        "fe80::1", "224.0.0.1", "239.255.255.250", "ff0e::1", "255.255.255.255", "10.0.0.1",
        "172.16.0.1", "192.168.0.1", "fc00::1",
    ):  # fmt: skip
        assert not is_public(ipaddress.ip_address(text)), text
    for text in (PUBLIC, "8.8.8.8", "100.63.255.255", "100.128.0.0", PUBLIC6, "2001:4860::8888"):
        assert is_public(ipaddress.ip_address(text)), text


# --- connecting to what was checked -------------------------------------------------------------


async def test_a_rebinding_resolver_is_asked_once_and_the_checked_address_is_called():
    """Public at the first answer, 127.0.0.1 at every one after: the connection goes to the
    public address the guard checked, and the resolver is never asked again."""
    resolve = FakeResolver({"rebind.example": [[PUBLIC], ["127.0.0.1"]]})
    wire = Wire()
    async with client(wire, resolve) as http:
        response = await http.post("http://rebind.example/hooks", content=b"{}")
    assert response.status_code == 204
    assert resolve.calls == [("rebind.example", 80)]
    assert wire.connected == [(PUBLIC, 80)]
    assert host_header(wire.sent) == "rebind.example"


async def test_a_host_that_rebinds_after_registration_is_refused_at_delivery():
    """Public when registered, 127.0.0.1 when delivered to: the delivery resolves once, sees
    127.0.0.1 and refuses; nothing connects to it."""
    resolve = FakeResolver({"rebind.example": [[PUBLIC], ["127.0.0.1"]]})
    await check_url("http://rebind.example/hooks", allow_private=False, resolve=resolve)
    wire = Wire()
    async with client(wire, resolve) as http:
        with pytest.raises(UnsafeURL, match=NOT_PUBLIC):
            await http.post("http://rebind.example/hooks", content=b"{}")
    assert wire.connected == []
    assert len(resolve.calls) == 2  # one at registration, one for the delivery


async def test_the_relay_connects_to_the_address_it_checked():
    """The relay as it sends: the URL is checked without resolving, the transport resolves it
    once and connects to the checked address, with the URL's Host header."""
    key = new_key()
    settings = Settings(encryption_key=key, webhook_allow_private=False)
    resolve = FakeResolver({"hooks.example": [[PUBLIC], ["127.0.0.1"]]})
    wire = Wire()
    transport = PinnedTransport(allow_private=False, resolve=resolve, backend=wire)
    relay = WebhookRelay(None, settings, transport=transport)  # type: ignore[arg-type]
    try:
        status = await relay._send(_delivery("http://hooks.example:8080/in", key))
    finally:
        await relay.aclose()
    assert status == 204
    assert resolve.calls == [("hooks.example", 8080)]
    assert wire.connected == [(PUBLIC, 8080)]
    assert host_header(wire.sent) == "hooks.example:8080"
    assert wire.sent.startswith(b"POST /in HTTP/1.1\r\n")


def _delivery(url: str, key: str) -> DueDelivery:
    return DueDelivery(
        id=uuid.uuid4(),
        attempts=1,
        endpoint_id=uuid.uuid4(),
        notification_id=uuid.uuid4(),
        url=url,
        secret_encrypted=SecretBox(key).seal(new_secret()),
        payload={"type": "disassociation.requested"},
    )


@pytest.mark.parametrize(
    ("url", "answers", "connected", "host"),
    [
        ("http://hooks.example/", [PUBLIC], (PUBLIC, 80), "hooks.example"),
        ("https://hooks.example/", [PUBLIC6], (PUBLIC6, 443), "hooks.example"),
        ("http://hooks.example./", [PUBLIC], (PUBLIC, 80), "hooks.example."),
        ("http://bücher.example/", [PUBLIC], (PUBLIC, 80), "xn--bcher-kva.example"),
        (f"http://{PUBLIC}:81/", [], (PUBLIC, 81), f"{PUBLIC}:81"),
        (f"http://[{PUBLIC6}]/", [], (PUBLIC6, 80), f"[{PUBLIC6}]"),
    ],
    ids=["name", "IPv6 answer, TLS", "trailing dot", "IDNA", "IPv4 literal", "IPv6 literal"],
)
async def test_a_public_endpoint_is_called_at_its_checked_address(url, answers, connected, host):
    target = parse_url(url)
    resolve = FakeResolver({target.host: answers})
    await check_url(url, allow_private=False, resolve=resolve)
    wire = Wire()
    async with client(wire, resolve) as http:
        assert (await http.post(url, content=b"{}")).status_code == 204
    assert wire.connected == [connected]
    assert host_header(wire.sent) == host
    if url.startswith("https"):
        assert wire.server_names == [target.host]  # SNI and verification: the name
    literal = not answers
    assert [h for h, _ in resolve.calls] == ([] if literal else [target.host] * 2)


async def test_allowing_private_addresses_still_connects_to_the_one_resolution():
    resolve = FakeResolver({"receiver.test": [["127.0.0.1"], ["10.9.9.9"]]})
    wire = Wire()
    async with client(wire, resolve, allow_private=True) as http:
        assert (await http.post("http://receiver.test:8080/h")).status_code == 204
    assert wire.connected == [("127.0.0.1", 8080)]
    assert resolve.calls == [("receiver.test", 8080)]
    for answer in (["224.0.0.1"], ["0.0.0.0"], ["::"]):  # noqa: S104 - never anything to call
        wire = Wire()
        async with client(wire, FakeResolver({"odd.test": answer}), allow_private=True) as http:
            with pytest.raises(UnsafeURL):
                await http.post("http://odd.test/")
        assert wire.connected == []


async def test_a_host_that_does_not_resolve_could_not_connect():
    wire = Wire()
    async with client(wire, FakeResolver({})) as http:
        with pytest.raises(httpx.ConnectError):
            await http.post("http://nowhere.example/")
    assert wire.connected == []
    with pytest.raises(UnsafeURL) as refused:
        await check_url("http://nowhere.example/", allow_private=False, resolve=FakeResolver({}))
    assert_says_nothing_of_addresses(str(refused.value))
    assert "nowhere" not in str(refused.value)


# --- what the relay reads of an answer ----------------------------------------------------------


async def _send_with(wire: Wire, **settings: object) -> int:
    key = new_key()
    relay = WebhookRelay(
        None,  # type: ignore[arg-type]
        Settings(encryption_key=key, **settings),
        transport=PinnedTransport(
            allow_private=False, resolve=FakeResolver({"hooks.example": [PUBLIC]}), backend=wire
        ),
    )
    try:
        return await relay._send(_delivery("http://hooks.example/in", key))
    finally:
        await relay.aclose()


async def test_a_redirect_is_not_followed_and_fails_the_attempt():
    wire = Wire(b"HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1/x\r\n\r\n")
    assert await _send_with(wire) == 307
    assert wire.connected == [(PUBLIC, 80)] and wire.sent.count(b"POST ") == 1
    relay = WebhookRelay(None, Settings())  # type: ignore[arg-type]
    try:
        assert relay._outcome(1, 307)[0] == "pending"  # tried again, as any failed attempt
    finally:
        await relay.aclose()


async def test_the_answer_body_is_read_up_to_a_cap_and_dropped():
    wire = Wire(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000000\r\n\r\n", endless=True)
    assert await _send_with(wire) == 200
    assert BODY_CAP <= wire.served <= BODY_CAP + 64 * 1024


async def test_an_endpoint_that_never_answers_is_given_up_on_in_time():
    wire = Wire(hang=True)
    started = asyncio.get_running_loop().time()
    with pytest.raises((httpx.TimeoutException, TimeoutError)):
        await _send_with(wire, webhook_timeout=dt.timedelta(seconds=0.2))
    assert asyncio.get_running_loop().time() - started < 2


# --- TLS: the checked address, verified for the name --------------------------------------------

NAME = "hooks.assocflow-test.example"


def _certificates(tmp_path: Path) -> tuple[str, Path, Path]:
    """A CA (PEM) and a certificate for NAME it signed (files for the server)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "assocflow test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca.public_bytes(serialization.Encoding.PEM).decode(), cert_file, key_file


class TLSServer:
    """An HTTPS server on 127.0.0.1 with a certificate for NAME: records the SNI name and the
    Host header of each request, answers 204."""

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert_file, key_file)
        self.context.sni_callback = self._sni
        self.server_names: list[str | None] = []
        self.hosts: list[str] = []

    def _sni(self, _sock: object, name: str | None, _context: object) -> None:
        self.server_names.append(name)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length: *(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            self.hosts.append(host_header(head))
            writer.write(NO_CONTENT)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass  # a client that refused the certificate
        finally:
            writer.close()

    async def __aenter__(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        return self._server.sockets[0].getsockname()[1]

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()


async def test_tls_goes_to_the_checked_address_and_verifies_the_urls_name(tmp_path):
    """A made-up name that the resolver maps to 127.0.0.1 (private addresses allowed): the
    request reaches the local server, with the name as SNI and Host, and the certificate is
    verified for the name: a name the certificate is not for, or an unknown CA, is refused."""
    ca, cert_file, key_file = _certificates(tmp_path)
    trust = ssl.create_default_context(cadata=ca)
    resolve = FakeResolver({NAME: ["127.0.0.1"], "other.assocflow-test.example": ["127.0.0.1"]})
    server = TLSServer(cert_file, key_file)
    async with server as port:
        transport = PinnedTransport(allow_private=True, resolve=resolve, verify=trust)
        async with httpx.AsyncClient(transport=transport) as http:
            response = await http.post(f"https://{NAME}:{port}/hooks", content=b"{}")
            assert response.status_code == 204
            assert server.server_names == [NAME]
            assert server.hosts == [f"{NAME}:{port}"]
            assert resolve.calls == [(NAME, port)]

            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.post(f"https://other.assocflow-test.example:{port}/hooks")
        async with httpx.AsyncClient(  # the default trust store does not know the test CA
            transport=PinnedTransport(allow_private=True, resolve=resolve)
        ) as http:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.post(f"https://{NAME}:{port}/hooks")
        async with httpx.AsyncClient(  # and 127.0.0.1 is never called where it is not allowed
            transport=PinnedTransport(allow_private=False, resolve=resolve, verify=trust)
        ) as http:
            with pytest.raises(UnsafeURL):
                await http.post(f"https://{NAME}:{port}/hooks")
    assert server.hosts == [f"{NAME}:{port}"]
    with pytest.raises(ValueError):
        PinnedTransport(allow_private=True, verify=False)
