"""Endpoint signing secrets: `whsec_` + base64, shown once, kept encrypted (they must be read back
to sign, so a hash will not do) with ASSOCFLOW_ENCRYPTION_KEY (a Fernet key)."""

from __future__ import annotations

import base64
import os

from cryptography.fernet import Fernet


class NoEncryptionKey(RuntimeError):
    pass


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def new_key() -> str:
    return Fernet.generate_key().decode()


class SecretBox:
    def __init__(self, key: str | None):
        self._fernet = Fernet(key.encode()) if key else None

    def _box(self) -> Fernet:
        if self._fernet is None:
            raise NoEncryptionKey("set ASSOCFLOW_ENCRYPTION_KEY to use webhooks")
        return self._fernet

    @property
    def available(self) -> bool:
        return self._fernet is not None

    def seal(self, secret: str) -> bytes:
        return self._box().encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        return self._box().decrypt(sealed).decode()
