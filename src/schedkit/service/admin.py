"""The façade's administration part: the audit trail, API tokens and the store's
key/value area, as :class:`~schedkit.service.Scheduler` offers them (it inherits
:class:`AdminFacade`). Each method is a thin call into the module that owns the rule."""

from __future__ import annotations

from typing import TYPE_CHECKING

from schedkit import tokens
from schedkit.models import JSON, ApiToken, AuditEvent, StateEntry
from schedkit.recent_outage import RecentOutage
from schedkit.service import audit as audit_trail
from schedkit.service.audit import SYSTEM, Auditor
from schedkit.store import Store
from schedkit.token_trust import TokenTrust
from schedkit.tokens import IssuedToken, Role

if TYPE_CHECKING:
    from schedkit.alerts.probe import AlertTest


class AdminFacade:
    store: Store
    _audit: Auditor
    _token_trust: TokenTrust

    async def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        limit: int = 50,
        offset: int = 0,
        include_tokens: bool = True,
    ) -> list[AuditEvent]:
        """Audit events, newest first; ``include_tokens=False`` leaves out the token
        events (what non-admins may read)."""
        if include_tokens:
            return await self.store.list_audit(
                actor=actor, action=action, target=target, limit=limit, offset=offset
            )
        return await audit_trail.list_visible(
            self.store, actor=actor, action=action, target=target, limit=limit, offset=offset
        )

    async def count_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        include_tokens: bool = True,
    ) -> int:
        """How many audit events :meth:`list_audit` with the same filters would list."""
        if include_tokens:
            return await self.store.count_audit(actor=actor, action=action, target=target)
        return await audit_trail.count_visible(
            self.store, actor=actor, action=action, target=target
        )

    async def record_alert_test(self, result: AlertTest, *, actor: str = SYSTEM) -> None:
        """An ``alerts.test`` audit event per channel a test message went to: its target
        ``channel:NAME``, the node and outcome in ``detail`` and ``after`` (the channel's
        answer is short: the backends cut it)."""
        for tested in result.channels:
            outcome = "delivered" if tested.delivered else f"not delivered: {tested.error}"
            await self._audit.record(
                actor,
                "alerts.test",
                f"channel:{tested.channel}",
                after={"node": result.node, **tested.to_json()},
                detail=f"test alert from node {result.node}: {outcome}",
            )

    async def create_token(
        self, *, name: str, role: str | Role, actor: str = SYSTEM
    ) -> IssuedToken:
        """A new API token; its secret is in the result only (the store keeps a hash)."""
        return await tokens.create_token(self.store, name=name, role=role, actor=actor)

    async def list_tokens(self, *, include_revoked: bool = False) -> list[ApiToken]:
        """The API tokens (their secrets are not stored: a hash), revoked ones if asked."""
        return await tokens.list_tokens(self.store, include_revoked=include_revoked)

    async def revoke_token(self, ref: str, *, actor: str = SYSTEM) -> ApiToken:
        """Revoke the token with id or name ``ref``; returns it as it was."""
        revoked = await tokens.revoke_token(self.store, ref, actor=actor)
        self._token_trust.forget(revoked.id)
        return revoked

    async def verify_token(self, secret: str, *, read_only: bool = False) -> ApiToken | None:
        """The live token whose secret this is, or None. ``read_only`` (a request that
        changes nothing) may be answered from a recent verification, and while the store
        cannot be reached, within ``api.token_outage_grace`` (:mod:`schedkit.token_trust`)."""
        return await self._token_trust.verify(self.store, secret, read_only=read_only)

    @property
    def store_outage(self) -> RecentOutage:
        """Whether a call found the store unavailable a moment ago, and why: answers that
        need not wait for it do not (:mod:`schedkit.recent_outage`)."""
        return self._token_trust.outage

    async def token_is_live(self, token_id: str) -> bool:
        """Whether the token with this id exists and is not revoked (open streams ask)."""
        return await tokens.is_live(self.store, token_id)

    async def get_state(self, key: str) -> StateEntry | None:
        """The entry of the key/value area under ``key``, or None."""
        return await self.store.get_state(key)

    async def list_state(self, prefix: str) -> list[StateEntry]:
        """The entries of the key/value area whose key starts with ``prefix``."""
        return await self.store.list_state(prefix)

    async def set_state(self, key: str, value: JSON, expected_version: int) -> bool:
        """Compare-and-set of a value in the store's key/value area (see Store.set_state)."""
        return await self.store.set_state(key, value, expected_version)
