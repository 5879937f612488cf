"""Who is calling: a guest (bearer id) or a registered account (JWT), per SPEC §5.

Shared by chat and the cabinet; it reads header and body values, never the HTTP request. A
guest id is a secret the page generated; an account id is never accepted as a guest id.
Tokens are HS256 JWTs bound to one tenant and invalidated by a password change (their `iat`,
kept with sub-second precision, must not precede it).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from uuid import UUID

import asyncpg
import jwt

from cip import errors
from cip.db.batching import Batch
from cip.db.queries import Executor
from cip.db.store import credentials

# fullmatch, not `$`: Python's `$` also matches before a trailing newline, which the
# database's CHECK (and any other reader of the id) would not accept.
GUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "tenant_id", "iat", "exp"]

IDENTITY_REQUIRED = "Identify yourself with an X-User-Id header or an Authorization: Bearer token."
BAD_GUEST_ID = "The user id must be 1-64 letters, digits or '._:-'."
BAD_TOKEN = "The access token is invalid or expired. Please log in again."
ACCOUNT_NEEDS_TOKEN = "This user id belongs to a registered account. Please log in."
USER_ID_MISMATCH = "user_id does not match the logged-in account."


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    account_id: UUID | None = None  # set for a registered visitor


def issue_token(secret: str, *, account_id: UUID, tenant_id: UUID, expire_minutes: int) -> str:
    now = time.time()
    claims = {
        "sub": str(account_id),
        "tenant_id": str(tenant_id),
        "iat": now,
        "exp": int(now + expire_minutes * 60),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def invalid_token() -> errors.Unauthorized:
    return errors.Unauthorized(BAD_TOKEN, code="invalid_token")


def decode_token(secret: str, token: str, tenant_id: UUID) -> tuple[UUID, float]:
    """The account id and issue time of a valid token for `tenant_id`; 401 otherwise."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": REQUIRED_CLAIMS}
        )
        account_id = UUID(str(claims["sub"]))
        issued_at = float(claims["iat"])
        token_tenant = UUID(str(claims["tenant_id"]))
    except (jwt.PyJWTError, ValueError, TypeError):
        raise invalid_token() from None
    if token_tenant != tenant_id:
        raise invalid_token()
    return account_id, issued_at


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer` header; None without the header."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise invalid_token()
    return token.strip()


class KnownGuests:
    """Guest ids already found not to be account ids, per tenant, so a returning guest costs
    no lookup. Only that answer is kept, and it cannot go stale: account ids are random UUIDs
    the database generates, and a guest id never becomes an account's (a login moves the
    guest's rows to the account's own id). Bounded; the oldest entries are forgotten first."""

    def __init__(self, size: int = 50_000) -> None:
        self._size = size
        self._ids: dict[tuple[UUID, str], None] = {}

    def __contains__(self, key: tuple[UUID, str]) -> bool:
        return key in self._ids

    def add(self, key: tuple[UUID, str]) -> None:
        if len(self._ids) >= self._size:
            del self._ids[next(iter(self._ids))]
        self._ids[key] = None


def as_account_id(user_id: str) -> UUID | None:
    """The account id a user id could be (any spelling of a UUID); None when it cannot be one."""
    try:
        return UUID(user_id)
    except ValueError:
        return None


async def is_account_id(db: Executor, tenant_id: UUID, user_id: str) -> bool:
    account_id = as_account_id(user_id)
    if account_id is None:
        return False
    changed_at = await credentials.password_changed_at(
        db, tenant_id=tenant_id, account_id=account_id
    )
    return changed_at is not None


class Identities:
    """Resolves callers against the accounts of the database and the service's JWT secret.
    The guest ids of concurrent requests not yet known are looked up together
    (`cip.db.batching`)."""

    def __init__(
        self, pool: asyncpg.Pool, secret: str, known_guests: KnownGuests | None = None
    ) -> None:
        self._db = pool
        self._secret = secret
        self._known_guests = KnownGuests() if known_guests is None else known_guests
        self._accounts: Batch[tuple[UUID, UUID], bool] = Batch(pool.acquire, self._are_accounts)

    @staticmethod
    async def _are_accounts(db: Executor, pairs: list[tuple[UUID, UUID]]) -> list[bool]:
        """One statement per tenant among `pairs` (tenant id, account id): which are accounts."""
        asked: dict[UUID, list[UUID]] = {}
        for tenant_id, account_id in pairs:
            asked.setdefault(tenant_id, []).append(account_id)
        found = {
            (tenant_id, account_id)
            for tenant_id, ids in asked.items()
            for account_id in await credentials.accounts_among(
                db, tenant_id=tenant_id, account_ids=ids
            )
        }
        return [pair in found for pair in pairs]

    async def _is_account_id(self, tenant_id: UUID, user_id: str) -> bool:
        account_id = as_account_id(user_id)
        return account_id is not None and await self._accounts((tenant_id, account_id))

    def issue_token(self, *, account_id: UUID, tenant_id: UUID, expire_minutes: int) -> str:
        return issue_token(
            self._secret,
            account_id=account_id,
            tenant_id=tenant_id,
            expire_minutes=expire_minutes,
        )

    async def resolve(
        self, *, tenant_id: UUID, authorization: str | None, guest_id: str | None
    ) -> Identity:
        """The caller of a request with this `Authorization` header and naming this guest id
        (the `X-User-Id` header, or the chat body's `user_id`; an empty one counts as
        absent). A token wins, and a guest id beside it must be the token's account."""
        guest_id = guest_id or None
        token = bearer_token(authorization)
        if token is not None:
            account_id, issued_at = decode_token(self._secret, token, tenant_id)
            changed_at = await credentials.password_changed_at(
                self._db, tenant_id=tenant_id, account_id=account_id
            )
            if changed_at is None or issued_at < changed_at.timestamp():
                raise invalid_token()
            if guest_id is not None and guest_id != str(account_id):
                raise errors.Forbidden(USER_ID_MISMATCH, code="user_id_mismatch")
            return Identity(user_id=str(account_id), account_id=account_id)
        if guest_id is None:
            raise errors.ValidationFailed(IDENTITY_REQUIRED, code="identity_required")
        if not GUEST_ID.fullmatch(guest_id):
            raise errors.ValidationFailed(BAD_GUEST_ID, code="invalid_user_id")
        key = (tenant_id, guest_id)
        if key not in self._known_guests:
            if await self._is_account_id(tenant_id, guest_id):
                raise errors.Unauthorized(ACCOUNT_NEEDS_TOKEN, code="login_required")
            self._known_guests.add(key)
        return Identity(user_id=guest_id)
