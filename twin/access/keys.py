"""API keys as values: their format, generation, and the hashes kept of them (pure but for the randomness of a
new key).

A key reads `ctk_<id>_<secret>`: `id` is 12 hex digits, public, the row the key is found by; `secret` is 32
random bytes in URL-safe base64. Only a scrypt hash of the secret is stored (`scrypt$<log2 n>$<r>$<p>$<salt>$<hash>`),
so one request verifies one hash; for device keys also the PBKDF2-SHA512 hash mosquitto's password file takes
(`$7$…`), the key id being the MQTT user name and the whole key its password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "ctk_"
KEY = re.compile(r"^ctk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P = 14, 8, 1
"""16 MiB and ≈40 ms per verification: verified keys are cached, so a request pays it once per cache period."""


class KeyFormatError(ValueError):
    """The text is not a CityTwin API key."""


@dataclass(frozen=True)
class NewKey:
    """A key just made: its id and the full token, shown once and never stored."""

    key_id: str
    token: str


def new_key() -> NewKey:
    key_id = secrets.token_hex(6)
    return NewKey(key_id, f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}")


def split_token(token: str) -> tuple[str, str]:
    """(key id, secret) of a token; KeyFormatError when it is not one."""
    match = KEY.match(token)
    if match is None:
        raise KeyFormatError("not a CityTwin API key (ctk_<12 hex digits>_<43 characters>)")
    return match.group(1), match.group(2)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**SCRYPT_LOG_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_LOG_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    """Whether `secret` is the one `stored` was made of (constant-time comparison; the cost is in the hash)."""
    try:
        scheme, log_n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(secret.encode(), salt=base64.b64decode(salt), n=2 ** int(log_n), r=int(r),
                                  p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest))

