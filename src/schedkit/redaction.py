"""Keeping secrets out of logs, alerts and what viewers read.

Error messages of failed runs can carry credentials (a database URL with its password,
``token=...`` in a request error, a bearer token). :func:`redact` masks URL passwords,
``key=value`` pairs whose key names a secret, bearer/basic credentials, and every secret
value this process knows (:func:`remember_secrets`: the store URL's password, the
expanded ``${ENV}`` values of alert channel URLs).

It is applied in one place per way out: :func:`install_log_redaction` (every record of
the ``schedkit`` logger hierarchy, task loggers included, started by each node), the
alert messages, and the read models that show run errors and log lines to API, console
and CLI readers. The store keeps the original text.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "MASK",
    "RedactingFilter",
    "install_log_redaction",
    "redact",
    "redact_json",
    "remember_secrets",
    "remember_url_password",
]

MASK = "***"

_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.\-]*://[^\s:/@]*:)(?P<secret>[^\s@/]+)(?=@)", re.IGNORECASE
)
#: Names of keys whose values are secrets.
_SECRET_NAMES = (
    r"(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"access[_-]?token|auth|authorization|private[_-]?key|client[_-]?secret|sign|signature)"
)
_KEY_VALUE = re.compile(
    rf"(?P<head>\b{_SECRET_NAMES}"
    # A ${VARIABLE} reference names where a secret is, it is not one: left as it is.
    r"\b[\"']?\s*[=:]\s*[\"']?)(?P<secret>(?!\$\{)[^\s\"',;&})\]]+)",
    re.IGNORECASE,
)
#: A JSON key naming a secret, alone or as the last part of a name (``db_password``).
_SECRET_KEY = re.compile(rf"(?:^|[_\-.]){_SECRET_NAMES}$", re.IGNORECASE)
_BEARER = re.compile(
    r"(?P<head>\b(?:bearer|basic)\s+)(?P<secret>[A-Za-z0-9._~+/=\-]{8,})", re.IGNORECASE
)
#: Secret values shorter than this are not searched for (too many false hits).
MIN_SECRET_LENGTH = 4
#: A value of letters only and shorter than this is a word as much as a secret
#: ("schedkit", "postgres"): searched for everywhere, it would mask paths, logger names
#: and sentences. It is masked where a secret stands (a URL's password, ``key=value``).
MIN_WORD_SECRET_LENGTH = 16

# Replaced as a whole (never mutated), so readers in any thread see a consistent set.
_known: frozenset[str] = frozenset()
_known_lock = threading.Lock()


def remember_secrets(values: Iterable[str]) -> None:
    """Mask these values wherever :func:`redact` runs from now on (this process)."""
    global _known
    fresh = {v for v in values if _searchable(v)}
    if fresh - _known:
        with _known_lock:
            _known = _known | fresh


def remember_url_password(url: str) -> None:
    """Remember the password of a URL such as the store URL, if it has one."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return
    if password:
        remember_secrets([password])


def _searchable(value: str) -> bool:
    """Whether ``value`` is masked wherever it appears (see MIN_WORD_SECRET_LENGTH)."""
    if len(value) < MIN_SECRET_LENGTH:
        return False
    return not (value.isalpha() and len(value) < MIN_WORD_SECRET_LENGTH)


def redact(text: str, secrets: Iterable[str] = (), limit: int | None = None) -> str:
    """``text`` with credentials masked, cut to ``limit`` characters if given."""
    values = _known | {s for s in secrets if _searchable(s)}
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, MASK)
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    text = _BEARER.sub(lambda m: m.group("head") + MASK, text)
    text = _KEY_VALUE.sub(lambda m: m.group("head") + MASK, text)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)].rstrip() + "…"
    return text


def redact_json(value: Any) -> Any:
    """``value`` (JSON data) with every string in it redacted, and the string value of a
    key that names a secret (``{"token": "..."}``) masked whole."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_item(key, item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    return value


def _redact_item(key: Any, item: Any) -> Any:
    if (
        isinstance(item, str)
        and isinstance(key, str)
        and _SECRET_KEY.search(key)
        and not item.startswith("${")
    ):
        return MASK
    return redact_json(item)


class RedactingFilter(logging.Filter):
    """Masks credentials in a record's message and traceback. Attached to the loggers of
    libraries that log request URLs (apprise, urllib3); hosts may attach it to their own
    handlers too."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is the emitter's problem, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            masked = redact(text)
            if masked != text:
                record.exc_text = masked  # formatters use it instead of formatting again
        return True


_factory_lock = threading.Lock()
_factory_installed = False


def install_log_redaction() -> None:
    """Redact every record of the ``schedkit`` logger hierarchy when it is made (once per
    process). A filter on the ``schedkit`` logger would not see its children's records:
    logger filters are not inherited, so the record factory does it."""
    global _factory_installed
    with _factory_lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()
        redacting = RedactingFilter()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if record.name == "schedkit" or record.name.startswith("schedkit."):
                redacting.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        _factory_installed = True
