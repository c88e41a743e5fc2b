"""One worker's access control: its table of keys, the keys it verified lately, and the rate limiter.

`principal(token, now)` answers who a request is from without any I/O for a key verified within the cache period
(a dict lookup); a token not yet verified costs one scrypt hash (`verify`, run off the event loop by callers).
Keys are in force once any active key exists; until then every request is `OPEN` (the loopback default).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from twin.access.keys import KeyFormatError, split_token, verify_secret
from twin.access.ratelimit import RateLimiter
from twin.access.roles import ANONYMOUS, OPEN, PUBLIC_READER, Principal
from twin.access.store import KeyRecord

CACHE_S = 60.0
"""How long a verified token is taken without hashing again (revocation still counts at once)."""
CACHE_MAX = 10_000


class Unauthorized(Exception):
    """The request carries a key that is not (or no longer) valid; the message says which way."""


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    until: float


class AccessControl:
    def __init__(self, keys: list[KeyRecord], *, public_read: bool = False, rate: float = 0.0,
                 burst: float = 0.0) -> None:
        self.public_read = public_read
        self.limiter = RateLimiter(rate, burst) if rate > 0 else None
        self.lock = threading.Lock()
        self.keys: dict[str, KeyRecord] = {}
        self.verified: dict[bytes, _Verified] = {}
        self.enforcing = True
        self.replace(keys)

    def replace(self, keys: list[KeyRecord]) -> None:
        """A fresh key table (at start and on every `keys_changed` notice); tokens of revoked keys stop at once."""
        table = {k.key_id: k for k in keys if k.active}
        with self.lock:
            self.keys = table
            self.enforcing = bool(table)
            self.verified = {t: v for t, v in self.verified.items() if v.principal.key_id in table}

    def shut(self) -> None:
        """No key is known and none is taken: only public routes answer (the key table cannot be read)."""
        with self.lock:
            self.keys, self.enforcing, self.verified = {}, True, {}

    def without_key(self) -> Principal:
        if not self.enforcing:
            return OPEN
        return PUBLIC_READER if self.public_read else ANONYMOUS

    def cached(self, token: str, now: float) -> Principal | None:
        """The principal of a token verified within the cache period, else None (verify it then)."""
        seen = self.verified.get(_digest(token))
        if seen is None or seen.until < now or seen.principal.key_id not in self.keys:
            return None
        return seen.principal

    def verify(self, token: str, now: float) -> Principal:
        """The principal of a token, hashing its secret once; Unauthorized when it is no valid key."""
        if not self.enforcing:
            return OPEN
        try:
            key_id, secret = split_token(token)
        except KeyFormatError as exc:
            raise Unauthorized(str(exc)) from None
        record = self.keys.get(key_id)
        if record is None or not verify_secret(secret, record.secret_hash):
            raise Unauthorized("unknown or revoked API key")
        with self.lock:
            if len(self.verified) >= CACHE_MAX:
                self.verified = {t: v for t, v in self.verified.items() if v.until >= now}
                if len(self.verified) >= CACHE_MAX:
                    self.verified.clear()
            principal = _principal(record)
            self.verified[_digest(token)] = _Verified(principal, now + CACHE_S)
        return principal

    def throttle(self, bucket: str, now: float) -> float:
        """0.0 when a request of this bucket (a key id, or a client address) may go on, else seconds to wait."""
        if self.limiter is None:
            return 0.0
        return self.limiter.take(bucket, now)


def _digest(token: str) -> bytes:
    return hashlib.blake2b(token.encode(), digest_size=16).digest()


def _principal(record: KeyRecord) -> Principal:
    return Principal(record.role, record.key_id, record.sensors)


def bearer(value: bytes | str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, or None."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    scheme, _, token = text.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
