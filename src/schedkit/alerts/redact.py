"""Keeping secrets out of alert messages and logs.

Error messages of failed runs can carry credentials (a database URL with its password,
``token=...`` in a request error). Before any text leaves in an alert, :func:`redact`
masks URL passwords, ``key=value`` pairs whose key names a secret, bearer tokens and
every secret value known to the sender (the expanded ``${ENV}`` values of channel URLs).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"

_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.\-]*://[^\s:/@]*:)(?P<secret>[^\s@/]+)(?=@)", re.IGNORECASE
)
_KEY_VALUE = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"access[_-]?token|auth|authorization|private[_-]?key|client[_-]?secret|sign|signature)"
    r"\b[\"']?\s*[=:]\s*[\"']?)(?P<secret>[^\s\"',;&})\]]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(
    r"(?P<head>\b(?:bearer|basic)\s+)(?P<secret>[A-Za-z0-9._~+/=\-]{8,})", re.IGNORECASE
)
#: Secret values shorter than this are not searched for (too many false hits).
MIN_SECRET_LENGTH = 4


def redact(text: str, secrets: Iterable[str] = (), limit: int | None = None) -> str:
    """``text`` with credentials masked, cut to ``limit`` characters if given."""
    for value in sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(value, MASK)
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    text = _BEARER.sub(lambda m: m.group("head") + MASK, text)
    text = _KEY_VALUE.sub(lambda m: m.group("head") + MASK, text)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)].rstrip() + "…"
    return text


class SecretFilter(logging.Filter):
    """Masks known secret values in the records of the loggers it is attached to
    (apprise's, whose debug lines show request URLs with tokens, and urllib3's, whose
    request lines show query strings)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: frozenset[str] = frozenset()

    def add(self, values: Iterable[str]) -> None:
        """Remember more secret values (safe from any thread: the set is replaced)."""
        self.secrets = self.secrets | frozenset(values)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self.secrets
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is the emitter's problem, not ours
            return True
        cleaned = redact(message, secrets)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True
