"""Keeping secrets out of logs, alerts and what viewers read.

Error messages of failed runs can carry credentials (a database URL with its password,
``token=...`` in a request error, a bearer token). :func:`redact` masks URL passwords,
``key=value`` and ``key: value`` pairs whose key names a secret (:func:`is_secret_key`:
``password``, ``DB_PASSWORD``, ``apiKey``, ``aws_secret_access_key``...; a quoted value
whole), bearer/basic credentials, and every secret value this process knows
(:func:`remember_secrets`: the store URL's password, the expanded ``${ENV}`` values of
alert channel URLs).

It is applied in one place per way out: :func:`install_log_redaction` (every record of
the ``schedkit`` logger hierarchy, task loggers included, started by each node), the
alert messages, and the read models that show run errors and log lines to API, console
and CLI readers. The store keeps the original text.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "MASK",
    "RedactingFilter",
    "install_log_redaction",
    "is_secret_key",
    "redact",
    "redact_json",
    "remember_secrets",
    "remember_url_password",
    "unmask",
]

MASK = "***"

#: A URL's password. The scheme is at most 32 characters: unbounded, a line such as
#: ``a-a-a-…`` (every letter starts a word) took time in the square of its length.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.\-]{0,31}://[^\s:/@]*:)(?P<secret>[^\s@/]+)(?=@)",
    re.IGNORECASE,
)
#: Last words of a key that names a secret (``password``, ``db_password``, ``dbPassword``,
#: ``DB_PASSWORD``, ``refresh-token``). The words of a key are its snake_case,
#: kebab-case, dotted, camelCase and SCREAMING_CASE parts, compared in lower case.
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "credential",
        "credentials",
        "cookie",
        "authorization",
        "auth",
        "signature",
        "sign",
        "apikey",
        "sessionid",
    }
)
#: The last two words of a key, joined, that name a secret (``api_key``, ``secretKey``,
#: ``aws_secret_access_key``, ``private-key``, ``session_id``, ``pass_phrase``); also
#: matched as one word (``apikey``, ``privatekey``).
_SECRET_PAIRS = frozenset(
    {
        "apikey",
        "accesskey",
        "secretkey",
        "privatekey",
        "signingkey",
        "encryptionkey",
        "sessionid",
        "passphrase",
    }
)
#: A last word ending so (``PGPASSWORD``, ``dbpassword``, ``csrftoken``) names a secret.
_SECRET_ENDINGS = ("password", "passwd", "passphrase", "secret", "token")
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

#: A ``key=value`` or ``key: value`` pair's key and separator (a quote may close the
#: key: ``"password": "..."``). The key starts a word; at most 64 characters are looked
#: at, so that a huge line costs linear time.
_PAIR_KEY = re.compile(
    r"(?<![A-Za-z0-9_])(?P<key>[A-Za-z][A-Za-z0-9_.\-]{0,63})[\"']?[ \t]*[=:][ \t]*"
)
#: The value after a secret key: quoted (masked whole, up to the closing quote, spaces
#: and commas included), or up to a space or a delimiter.
_PAIR_VALUE = re.compile(
    r"\"(?P<dq>(?:[^\"\\\n]|\\.)*)\"|'(?P<sq>(?:[^'\\\n]|\\.)*)'|[\"']?(?P<bare>[^\s\"',;&})\]]+)"
)
#: An ``Authorization: Bearer ...`` header keeps its scheme (_BEARER masks what follows).
_SCHEMES = frozenset({"bearer", "basic"})
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
    text = _mask_pairs(text)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)].rstrip() + "…"
    return text


def is_secret_key(key: str) -> bool:
    """Whether ``key`` names a secret: its last word is one (``password``, ``token``,
    ``secret``, ``credentials``, ``cookie``, ``authorization``, ``auth``, ``signature``...)
    or ends with ``password``/``secret``/``token`` (``PGPASSWORD``), or its last two words
    are (``api_key``, ``secretKey``, ``private-key``, ``session_id``, ``pass_phrase``).
    Words are the parts of snake_case, kebab-case, dotted, camelCase and SCREAMING_CASE
    names, in any case. A secret word that is not last names something else:
    ``token_count``, ``max_tokens``, ``password_changed_at`` and ``secret_name`` are no
    secrets."""
    words = [w.lower() for w in _WORDS.findall(key)]
    if not words:
        return False
    last = words[-1]
    if last in _SECRET_WORDS or last in _SECRET_PAIRS or last.endswith(_SECRET_ENDINGS):
        return True
    return len(words) > 1 and words[-2] + last in _SECRET_PAIRS


def _mask_pairs(text: str) -> str:
    """``text`` with the value of each ``key=value`` / ``key: value`` whose key names a
    secret masked; a ``${VARIABLE}`` reference names where a secret is, it is not one."""
    if "=" not in text and ":" not in text:
        return text
    parts: list[str] = []
    done = 0
    for pair in _PAIR_KEY.finditer(text):
        if pair.start() < done or not is_secret_key(pair.group("key")):
            continue
        value = _PAIR_VALUE.match(text, pair.end())
        if value is None:
            continue
        group = next(g for g in ("dq", "sq", "bare") if value.group(g) is not None)
        start, end = value.span(group)
        if (
            start == end
            or text.startswith("${", start)
            or (group == "bare" and value.group(group).lower() in _SCHEMES)
        ):
            continue
        parts += [text[done:start], MASK]
        done = end
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def redact_json(value: Any) -> Any:
    """``value`` (JSON data) with every string in it redacted, and the value of a key
    that names a secret (:func:`is_secret_key`: ``{"token": "..."}``, ``{"credentials":
    {...}}``) masked whole; null, true/false and a ``${VARIABLE}`` reference are kept."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_item(key, item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    return value


def _redact_item(key: Any, item: Any) -> Any:
    if (
        isinstance(key, str)
        and item is not None
        and not isinstance(item, bool)
        and not (isinstance(item, str) and item.startswith("${"))
        and is_secret_key(key)
    ):
        return MASK
    return redact_json(item)


def unmask(given: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` (JSON data sent to replace ``stored``, as ``stored`` was read: redacted)
    with each value that is exactly what a reader was shown of the stored value under
    the same key taken back to the stored value. A schedule's kwargs edited in the
    console come back so: saved as sent, ``"***"`` would replace the password."""
    kept = dict(given)
    for key, value in given.items():
        if key in stored:
            old = stored[key]
            if value != old and value == _redact_item(key, old):
                kept[key] = old
    return kept


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
