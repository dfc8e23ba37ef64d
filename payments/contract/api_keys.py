"""The text of an HTTP API key: `pek_<prefix>_<secret>`, made once, hashed for good.

`prefix` is 12 hex digits (48 random bits): public, it names the key in listings,
logs and `payments keys api-revoke`. `secret` is 32 random bytes in unpadded
URL-safe base64 (43 characters). The store keeps only SHA-256 of the secret: the
secret has 256 bits of entropy, so a slow password hash would add nothing, and a
fast one keeps every request cheap. Comparisons are in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY_SCHEME = "pek"  # payments-engine key: lets secret scanners recognise a leaked one
PREFIX_PATTERN = r"^[0-9a-f]{12}$"
_KEY = re.compile(r"^pek_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class NewApiKey:
    prefix: str
    secret: str

    @property
    def token(self) -> str:
        """The whole key, as a client sends it: shown once, stored nowhere."""
        return f"{KEY_SCHEME}_{self.prefix}_{self.secret}"

    @property
    def secret_sha256(self) -> str:
        return secret_sha256(self.secret)


def new_api_key() -> NewApiKey:
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    return NewApiKey(prefix=secrets.token_hex(6), secret=secret)


def parse_api_key(token: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key, else None (no hint of what was wrong)."""
    found = _KEY.fullmatch(token)
    return (found.group(1), found.group(2)) if found else None


def secret_sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def secret_matches(secret: str, stored_sha256: str) -> bool:
    return hmac.compare_digest(secret_sha256(secret), stored_sha256)
