"""Endpoint signing secrets: `whsec_` + base64, shown once, kept encrypted (they must be read back
to sign, so a hash will not do) with ASSOCFLOW_ENCRYPTION_KEY.

ASSOCFLOW_ENCRYPTION_KEY holds one Fernet key, or several separated by commas, newest first:
secrets are sealed with the first and opened with whichever opens them, so a new key can be put
in front while what the old one sealed is re-sealed (`assocflow secrets rotate`, `reseal`)."""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class NoEncryptionKey(RuntimeError):
    pass


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def new_key() -> str:
    return Fernet.generate_key().decode()


def parse_keys(keys: str | None) -> list[str]:
    """The keys of ASSOCFLOW_ENCRYPTION_KEY, newest first (blanks around commas ignored)."""
    return [key.strip() for key in (keys or "").split(",") if key.strip()]


def key_id(key: str) -> str:
    """A name for a key that says nothing of it, for logs and audit entries: the start of its
    SHA-256 (a Fernet key is 256 random bits, so this cannot lead back to it)."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:16]


class SecretBox:
    def __init__(self, keys: str | None):
        self._keys = parse_keys(keys)
        fernets = []
        for position, key in enumerate(self._keys, start=1):
            try:
                fernets.append(Fernet(key.encode()))
            except ValueError:  # never the key itself in the message: it may end up in a log
                raise ValueError(
                    f"ASSOCFLOW_ENCRYPTION_KEY: key {position} of {len(self._keys)} is not a"
                    " Fernet key (32 url-safe base64-encoded bytes); several keys are separated"
                    " by commas, newest first"
                ) from None
        self._newest = fernets[0] if fernets else None
        self._fernet = MultiFernet(fernets) if fernets else None

    def _box(self) -> MultiFernet:
        if self._fernet is None:
            raise NoEncryptionKey("set ASSOCFLOW_ENCRYPTION_KEY to use webhooks")
        return self._fernet

    @property
    def available(self) -> bool:
        return self._fernet is not None

    @property
    def newest_key_id(self) -> str:
        """`key_id` of the key secrets are sealed with."""
        self._box()
        return key_id(self._keys[0])

    def seal(self, secret: str) -> bytes:
        """`secret` encrypted with the newest key."""
        return self._box().encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        """What `seal` sealed, with whichever key sealed it. Raises InvalidToken if none of the
        keys did (or it was altered)."""
        return self._box().decrypt(sealed).decode()

    def reseal(self, sealed: bytes) -> bytes | None:
        """`sealed` encrypted again with the newest key; None if it already is (nothing to do).
        Raises InvalidToken if none of the keys opens it."""
        box = self._box()
        assert self._newest is not None  # there is a box, so there is a newest key
        try:
            self._newest.decrypt(sealed)
        except InvalidToken:
            return box.rotate(sealed)
        return None
