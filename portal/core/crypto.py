"""Encryption at rest of bank account numbers and tax ids, and how they are shown."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet

from portal.core.config import ConfigurationError, get_settings

MASK = "••••"


@lru_cache(maxsize=4)
def _cipher(keys: str) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.strip()) for key in keys.split(",") if key.strip()])
    except ValueError as error:
        raise ConfigurationError(
            "PORTAL_ENCRYPTION_KEY must be one or more comma-separated Fernet keys"
        ) from error


def encrypt(clear: str) -> str:
    """A token that only the configured key can read (the newest key encrypts)."""
    return _cipher(get_settings().encryption_key).encrypt(clear.encode()).decode()


def decrypt(token: str) -> str:
    """The clear text of a token made by `encrypt` with any configured key."""
    return _cipher(get_settings().encryption_key).decrypt(token.encode()).decode()


def encrypt_bytes(clear: bytes) -> bytes:
    """A token for a file (a tax form PDF) that only the configured key can read."""
    return _cipher(get_settings().encryption_key).encrypt(clear)


def decrypt_bytes(token: bytes) -> bytes:
    """The file behind a token made by `encrypt_bytes` with any configured key."""
    return _cipher(get_settings().encryption_key).decrypt(token)


def rotate(token: bytes) -> bytes:
    """The same secret encrypted with the newest key (`PORTAL_ENCRYPTION_KEY`'s first)."""
    return _cipher(get_settings().encryption_key).rotate(token)


def last4(clear: str) -> str:
    """The last letters or digits that may be shown: four, and never more than half of a
    short value (a 4-digit account would otherwise be "masked" as itself)."""
    significant = [char for char in clear if char.isalnum()]
    shown = min(4, len(significant) // 2)
    return "".join(significant[-shown:]) if shown else ""


def masked(last_four: str | None) -> str:
    """How a sensitive value is displayed: `•••• 1234`, or empty when there is none."""
    return f"{MASK} {last_four}" if last_four else ""
