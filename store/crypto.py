"""API keys at rest: Fernet with SECRET_KEYS (the first key encrypts, every key decrypts)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr


class SecretKeyError(Exception):
    """No key to encrypt with, or a stored secret that none of the keys opens."""


class KeyBox:
    def __init__(self, keys: tuple[SecretStr, ...]) -> None:
        self._fernet = MultiFernet([Fernet(k.get_secret_value().encode()) for k in keys]) if keys else None

    def _require(self) -> MultiFernet:
        if self._fernet is None:
            raise SecretKeyError("SECRET_KEYS is empty: set it to store marketplace API keys")
        return self._fernet

    def encrypt(self, secret: str) -> str:
        return self._require().encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._require().decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretKeyError("a stored API key cannot be decrypted with any key in SECRET_KEYS") from None

    def rotate(self, token: str) -> str:
        """Re-encrypt under the first key (after a new key was put first in SECRET_KEYS)."""
        try:
            return self._require().rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretKeyError("a stored API key cannot be decrypted with any key in SECRET_KEYS") from None


def new_key() -> str:
    return Fernet.generate_key().decode()
