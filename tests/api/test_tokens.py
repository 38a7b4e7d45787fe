"""schedkit.tokens: random secrets shown once, stored as SHA-256, roles, audit events."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from schedkit.errors import ConflictError, ValidationError
from schedkit.models import utcnow
from schedkit.store import Store, create_store
from schedkit.tokens import (
    TOKEN_PREFIX,
    Role,
    TokenNotFoundError,
    create_token,
    list_tokens,
    revoke_token,
    verify_token,
)


@pytest.fixture
async def store(sqlite_url: str) -> AsyncIterator[Store]:
    async with create_store(sqlite_url) as s:
        yield s


async def test_secret_is_random_and_only_its_hash_is_stored(store: Store) -> None:
    a = await create_token(store, name="a", role="viewer", actor="alice")
    b = await create_token(store, name="b", role=Role.ADMIN)
    assert a.secret.startswith(TOKEN_PREFIX) and len(a.secret) > 40 and a.secret != b.secret
    stored = {t.name: t for t in await store.list_tokens()}
    assert stored["a"].token_hash == hashlib.sha256(a.secret.encode()).hexdigest()
    assert a.secret not in repr(stored) and stored["a"].created_by == "alice"
    assert (stored["a"].role, stored["b"].role) == ("viewer", "admin")


async def test_verify(store: Store) -> None:
    issued = await create_token(store, name="ops", role="operator")
    now = utcnow()
    token = await verify_token(store, issued.secret, now=now)
    assert token is not None and token.name == "ops"
    assert (await store.list_tokens())[0].last_used_at == now
    # last_used_at is written at most once a minute, not on every request.
    await verify_token(store, issued.secret, now=now + timedelta(seconds=5))
    assert (await store.list_tokens())[0].last_used_at == now
    for wrong in ("", issued.secret + "x", issued.secret[len(TOKEN_PREFIX) :], "x" * 500):
        assert await verify_token(store, wrong) is None
    await revoke_token(store, "ops")
    assert await verify_token(store, issued.secret) is None


async def test_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR) and Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR) and not Role.OPERATOR.allows(Role.ADMIN)


async def test_bad_input_and_conflicts(store: Store) -> None:
    with pytest.raises(ValidationError) as bad_role:
        await create_token(store, name="x", role="root")
    assert bad_role.value.field == "role"
    with pytest.raises(ValidationError) as bad_name:
        await create_token(store, name="has space", role="viewer")
    assert bad_name.value.field == "name"
    await create_token(store, name="dup", role="viewer")
    with pytest.raises(ConflictError):
        await create_token(store, name="dup", role="admin")
    revoked = await revoke_token(store, "dup")
    with pytest.raises(ConflictError):
        await revoke_token(store, revoked.id)
    with pytest.raises(TokenNotFoundError):
        await revoke_token(store, "never")
    await create_token(store, name="dup", role="admin")  # the name is free again
    names = [(t.name, t.revoked) for t in await list_tokens(store, include_revoked=True)]
    assert names == [("dup", True), ("dup", False)]
    assert [t.name for t in await list_tokens(store)] == ["dup"]


async def test_create_and_revoke_write_audit_events(store: Store) -> None:
    issued = await create_token(store, name="ci", role="operator", actor="alice")
    await revoke_token(store, "ci", actor="bob")
    events = await store.list_audit(target="token:ci")
    assert [(e.action, e.actor) for e in reversed(events)] == [
        ("token.create", "alice"),
        ("token.revoke", "bob"),
    ]
    assert all(
        issued.secret not in str(e) and issued.token.token_hash not in str(e) for e in events
    )


async def test_revoking_a_name_already_revoked_says_so_with_its_ids(store: Store) -> None:
    """An on-call audit: ``token revoke ci`` a second time said "unknown token 'ci'" (exit
    2), sending the operator after a typo in a name ``token list --all`` showed."""
    first = (await create_token(store, name="ci", role="operator")).token
    await revoke_token(store, "ci")
    with pytest.raises(ConflictError) as once:
        await revoke_token(store, "ci")
    assert str(once.value) == f"token 'ci' (id {first.id}) is already revoked"
    with pytest.raises(ConflictError) as by_id:
        await revoke_token(store, first.id)
    assert str(by_id.value) == f"token 'ci' (id {first.id}) is already revoked"
    second = (await create_token(store, name="ci", role="viewer")).token
    await revoke_token(store, "ci")
    with pytest.raises(ConflictError) as both:
        await revoke_token(store, "ci")
    ids = f"{first.id}, {second.id}"
    assert str(both.value) == f"every token named 'ci' is already revoked (ids {ids})"


async def test_audit_events_tell_the_tokens_of_one_name_apart(store: Store) -> None:
    """The same audit: every event of two tokens named ``ci`` read "token:ci, role …"."""
    first = (await create_token(store, name="ci", role="operator")).token
    await revoke_token(store, "ci")
    second = (await create_token(store, name="ci", role="viewer")).token
    events = reversed(await store.list_audit(target="token:ci"))  # the name's history
    assert [(e.action, e.detail) for e in events] == [
        ("token.create", f"role operator, id {first.id}"),
        ("token.revoke", f"role operator, id {first.id}"),
        ("token.create", f"role viewer, id {second.id}"),
    ]
