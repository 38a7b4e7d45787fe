"""How long an API token the store verified is believed without asking the store again.

Two bounds, for reads only (``read_only``: the API's GET and HEAD requests):

* ``cache`` (``api.token_cache``, 5 s): a token the store verified this recently is not
  looked up again; every request paid a store round trip for it. A token revoked on
  another node (or with ``schedkit token revoke``) keeps reading here for at most this
  long; revoked through this node, it is refused at once.
* ``outage_grace`` (``api.token_outage_grace``, 15 minutes): while the store cannot be
  reached (:class:`~schedkit.errors.StoreUnavailableError`), a token the store verified
  within this time still reads. Without it ``/metrics`` answered 503 for a whole outage to
  a scraper with a viewer token, and monitoring went blind when it was needed most. What
  such a caller gets is what the node can answer without its store: its metrics (last
  sample), ``/ready``'s reason; every other read fails on the store anyway.

A store that hangs (a firewall or a partition dropping its packets: nothing refuses)
fails a lookup only after the driver's timeouts (``command_timeout``, 60 s): a scrape
waited 20 to 72 s, past a scraper's timeout (Prometheus: 10 s), and every scrape of the
partition failed. So a read whose token is within its grace waits for the store's lookup
at most :data:`LOOKUP_DEADLINE` seconds, then counts the store as unavailable; and while
the store was found unavailable a moment ago (:mod:`schedkit.recent_outage`), such reads
do not ask it.

A write always asks the store, so a revoked token never changes anything; and once the
store answers again, a revoked token is refused on its next request (past ``cache``).
A grace counts from the store's last verification, never from a request admitted by it.
Only tokens the store verified are kept (by the hash of their secret), and only while a
bound holds: the size is that of the live tokens in use.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from schedkit import tokens
from schedkit.errors import StoreUnavailableError
from schedkit.models import ApiToken
from schedkit.recent_outage import RecentOutage
from schedkit.stopping import wait_for
from schedkit.store.base import Store

__all__ = ["LOOKUP_DEADLINE", "TokenTrust"]

logger = logging.getLogger(__name__)

#: Seconds a read with a token in its outage grace waits for the store's lookup (its
#: connection's closing adds up to 2 s: SQLAlchemy's wait for asyncpg).
LOOKUP_DEADLINE = 2.0


@dataclass(frozen=True, kw_only=True, slots=True)
class _Verified:
    token: ApiToken
    #: ``clock()`` when the store last said the token is live.
    at: float


class TokenTrust:
    """:func:`schedkit.tokens.verify_token` with the bounds above (seconds, 0: none)."""

    def __init__(
        self,
        *,
        cache: float,
        outage_grace: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache = cache
        self.outage_grace = outage_grace
        self._clock = clock
        self._verified: dict[str, _Verified] = {}
        #: Ids of tokens revoked through this node: a lookup already in flight when the
        #: revocation came answers "live", and is not believed (revocation is final).
        self._revoked: set[str] = set()
        #: Tokens admitted without the store since it last answered (said once each).
        self._said: set[str] = set()
        #: Whether a call found the store unavailable a moment ago.
        self.outage = RecentOutage(clock)

    async def verify(self, store: Store, secret: str, *, read_only: bool) -> ApiToken | None:
        """The live token whose secret this is, or None; raises the store's error when
        no bound lets a read through without it, and for every write."""
        key = tokens.hash_secret(secret)
        known = self._verified.get(key)
        now = self._clock()
        if read_only and known is not None and now - known.at < self.cache:
            return known.token
        graced = read_only and known is not None and now - known.at < self.outage_grace
        down = self.outage.why
        if graced and known is not None and down is not None:
            self._say_trusted(known, now, down)
            return known.token
        try:
            lookup = tokens.verify_token(store, secret)
            token = await (wait_for(lookup, LOOKUP_DEADLINE) if graced else lookup)
        except (StoreUnavailableError, TimeoutError) as exc:
            unanswered = isinstance(exc, TimeoutError)  # the deadline: graced reads only
            why = (
                f"no answer to a token lookup in {LOOKUP_DEADLINE:.0f} s"
                if unanswered
                else str(exc)
            )
            self.outage.found(why)
            if graced and known is not None:
                self._say_trusted(known, now, why)
                return known.token
            raise
        self.outage.answered()
        self._forget_expired(now)
        if token is not None and token.id in self._revoked:
            token = None
        if token is None:
            self._verified.pop(key, None)
        else:
            self._verified[key] = _Verified(token=token, at=now)
            self._said.discard(token.id)
        return token

    def forget(self, token_id: str) -> None:
        """Stop believing the token with this id (revoked through this node)."""
        self._revoked.add(token_id)
        self._verified = {k: v for k, v in self._verified.items() if v.token.id != token_id}

    def _forget_expired(self, now: float) -> None:
        keep = max(self.cache, self.outage_grace)
        expired = [k for k, v in self._verified.items() if now - v.at >= keep]
        for key in expired:
            del self._verified[key]

    def _say_trusted(self, known: _Verified, now: float, why: str) -> None:
        if known.token.id in self._said:
            return
        self._said.add(known.token.id)
        left = self.outage_grace - (now - known.at)
        logger.warning(
            "the store cannot be reached (%s): API token %r, verified %.0f s ago, reads "
            "without it for at most %.0f s more (api.token_outage_grace); writes need the store",
            why,
            known.token.name,
            now - known.at,
            left,
        )
