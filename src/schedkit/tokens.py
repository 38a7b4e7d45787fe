"""Built-in API tokens and their roles, shared by the API (``schedkit serve``) and the CLI.

A token is a random secret shown once at creation; the store keeps only its SHA-256
(:class:`schedkit.models.ApiToken`). Roles are ordered: ``viewer`` (read) <
``operator`` (run, cancel, pause/resume) < ``admin`` (change schedules, manage tokens).
Creating and revoking a token writes an audit event.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schedkit.errors import ConflictError, SchedkitError, StoreUnwritableError, ValidationError
from schedkit.models import ApiToken, AuditEvent, new_id, to_json, utcnow
from schedkit.store.base import Store

__all__ = [
    "TOKEN_PREFIX",
    "IssuedToken",
    "Role",
    "TokenNotFoundError",
    "create_token",
    "hash_secret",
    "is_live",
    "list_tokens",
    "revoke_token",
    "verify_token",
]

logger = logging.getLogger(__name__)

#: Every secret starts with this, so that a leaked token is recognizable in scanners.
TOKEN_PREFIX = "skt_"
#: ``last_used_at`` is written at most this often per token (not on every request).
TOUCH_INTERVAL = timedelta(seconds=60)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,99}$")


class Role(enum.StrEnum):
    """What a token may do; each role includes the ones below it."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, required: Role) -> bool:
        """True if this role may do what ``required`` may do."""
        return self.rank >= required.rank


_RANKS = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


class TokenNotFoundError(SchedkitError, LookupError):
    """No token has the given id or name."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"unknown token {ref!r}")
        self.ref = ref


@dataclass(frozen=True, kw_only=True, slots=True)
class IssuedToken:
    """A new token: ``secret`` exists only here, show it once and forget it."""

    token: ApiToken
    #: Not in ``repr()``: a log line or traceback printing the object shows no secret.
    secret: str = field(repr=False)


def hash_secret(secret: str) -> str:
    """The SHA-256 hex digest under which a secret is stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_role(value: str | Role) -> Role:
    """``value`` as a Role; raises ValidationError naming ``role``."""
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise ValidationError(
            f"unknown role {value!r}; expected one of {allowed}", field="role"
        ) from None


async def create_token(
    store: Store,
    *,
    name: str,
    role: str | Role,
    actor: str = "system",
    now: datetime | None = None,
) -> IssuedToken:
    """Create a token named ``name`` (unique among unrevoked tokens) with ``role``."""
    if not _NAME.match(name):
        raise ValidationError(
            "a token name is 1-100 characters: letters, digits and _ . @ : - "
            "(starting with a letter or digit)",
            field="name",
        )
    checked_role = parse_role(role)
    if any(t.name == name and not t.revoked for t in await store.list_tokens()):
        raise ConflictError(f"a token named {name!r} already exists; revoke it first")
    at = now or utcnow()
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        id=new_id(),
        name=name,
        role=checked_role.value,
        token_hash=hash_secret(secret),
        created_at=at,
        created_by=actor,
    )
    await store.put_token(token)
    await _audit(store, actor, "token.create", token, at, before=None, after=_public(token))
    logger.info("API token %r (%s) created by %s", name, checked_role.value, actor)
    return IssuedToken(token=token, secret=secret)


async def verify_token(
    store: Store, secret: str, *, now: datetime | None = None
) -> ApiToken | None:
    """The unrevoked token whose secret is ``secret``, or None.

    Records ``last_used_at`` at most once per :data:`TOUCH_INTERVAL`.
    """
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = await store.get_token_by_hash(hash_secret(secret))
    if token is None or token.revoked or token.role not in Role.__members__.values():
        return None
    at = now or utcnow()
    if token.last_used_at is None or at - token.last_used_at >= TOUCH_INTERVAL:
        # A store refusing writes (a full disk) still tells who the caller is: its reads,
        # /ready's reason among them, stay open to tokens used for the first time.
        with contextlib.suppress(StoreUnwritableError):
            await store.touch_token(token.id, at)
    return token


async def is_live(store: Store, token_id: str) -> bool:
    """Whether the token with id ``token_id`` exists and is not revoked."""
    return any(t.id == token_id and not t.revoked for t in await store.list_tokens())


async def list_tokens(store: Store, *, include_revoked: bool = False) -> list[ApiToken]:
    """Tokens, oldest first."""
    tokens = await store.list_tokens()
    tokens.sort(key=lambda t: (t.created_at, t.id))
    return [t for t in tokens if include_revoked or not t.revoked]


async def revoke_token(
    store: Store, ref: str, *, actor: str = "system", now: datetime | None = None
) -> ApiToken:
    """Revoke the token with id or (unrevoked) name ``ref``; returns it as it was.

    Raises TokenNotFoundError, or ConflictError if it is already revoked (by id, or by
    a name whose every token is revoked: "unknown token" sent the operator looking for a
    typo in a name that ``token list --all`` showed).
    """
    tokens = await store.list_tokens()
    match = next((t for t in tokens if t.id == ref), None) or next(
        (t for t in tokens if t.name == ref and not t.revoked), None
    )
    if match is None:
        named = [t.id for t in tokens if t.name == ref]
        if len(named) == 1:
            raise ConflictError(f"token {ref!r} (id {named[0]}) is already revoked")
        if named:
            ids = ", ".join(named)
            raise ConflictError(f"every token named {ref!r} is already revoked (ids {ids})")
        raise TokenNotFoundError(ref)
    if match.revoked:
        raise ConflictError(f"token {match.name!r} (id {match.id}) is already revoked")
    await store.revoke_token(match.id)
    at = now or utcnow()
    after = {**_public(match), "revoked": True}
    await _audit(store, actor, "token.revoke", match, at, before=_public(match), after=after)
    logger.info("API token %r revoked by %s", match.name, actor)
    return match


def _public(token: ApiToken) -> dict[str, object]:
    """The token without its hash (what audit events and listings show)."""
    data: dict[str, object] = to_json(token)
    data.pop("token_hash", None)
    return data


async def _audit(
    store: Store,
    actor: str,
    action: str,
    token: ApiToken,
    at: datetime,
    *,
    before: dict[str, object] | None,
    after: dict[str, object] | None,
) -> None:
    await store.add_audit(
        AuditEvent(
            id=new_id(),
            at=at,
            actor=actor,
            action=action,
            target=f"token:{token.name}",
            before=before,
            after=after,
            # The id: tokens of one name (one revoked, its successor) share the target,
            # kept by name so that a filter on it finds the name's whole history.
            detail=f"role {token.role}, id {token.id}",
        )
    )
