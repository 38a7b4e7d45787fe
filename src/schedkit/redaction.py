"""Keeping secrets out of logs, alerts and what viewers read.

Error messages of failed runs can carry credentials (a database URL with its password,
``token=...`` in a request error, a bearer token). :func:`redact` masks URL passwords,
``key=value`` and ``key: value`` pairs whose key names a secret (:func:`is_secret_key`:
``password``, ``DB_PASSWORD``, ``apiKey``, ``aws_secret_access_key``...; a quoted value
whole), bearer/basic credentials, and every secret value this process knows
(:func:`remember_secrets`: the store URL's password, the expanded ``${ENV}`` values of
alert channel URLs).

A run's secret parameters are those whose name is a secret's (:func:`is_secret_key`) or
whose declared type is a pydantic secret (``SecretStr``..., :func:`declare_secret_parameters`
when the task is registered). Readers see their values masked whole in kwargs, and
:func:`mask_values` masks those values wherever they appear in the run's text: its
error, traceback and log lines as they are recorded (:func:`scrub_record`), its result
and progress note where they are shown.

It is applied in one place per way out: :func:`install_log_redaction` (every record of
the ``schedkit`` logger hierarchy, task loggers included, started by each node), the
alert messages, and the read models that show run errors and log lines to API, console
and CLI readers. The store keeps the original text, but for the values of a run's
secret parameters in what the run's attempt records.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "MASK",
    "RedactingFilter",
    "declare_secret_parameters",
    "install_log_redaction",
    "is_secret_key",
    "mask_values",
    "redact",
    "redact_json",
    "redact_kwargs",
    "remember_secrets",
    "remember_url_password",
    "run_secrets",
    "scrub_record",
    "secret_parameters",
    "secret_values",
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

#: A value of a run's secret parameter shorter than this is not searched for in the
#: run's text: a password of a few characters protects nothing, and its text ("1",
#: "2026", "prod") is all over errors, paths and numbers. Its kwarg is masked all the same.
MIN_PARAMETER_SECRET_LENGTH = 6

# Replaced as a whole (never mutated), so readers in any thread see a consistent set.
_known: frozenset[str] = frozenset()
_known_lock = threading.Lock()
#: Per task name, the parameters its declaration types as secrets (any registration of
#: the name in this process: a name declared twice masks what either declared).
_declared: dict[str, frozenset[str]] = {}


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


def declare_secret_parameters(task_name: str, names: Iterable[str]) -> None:
    """Mask the values of parameters ``names`` of task ``task_name`` wherever its runs and
    schedules are shown (this process), whatever their names (``SecretStr`` ones)."""
    global _declared
    fresh = frozenset(names)
    with _known_lock:
        before = _declared.get(task_name, frozenset())
        if not fresh <= before:
            _declared = {**_declared, task_name: before | fresh}


def secret_parameters(task_name: str) -> frozenset[str]:
    """The parameters of ``task_name`` declared secret (:func:`declare_secret_parameters`)."""
    return _declared.get(task_name, frozenset())


def run_secrets(task_name: str, kwargs: Any) -> frozenset[str]:
    """The :func:`secret_values` of a run of task ``task_name`` with ``kwargs``."""
    return secret_values(kwargs, secret_parameters(task_name))


def secret_values(kwargs: Any, names: Collection[str] = ()) -> frozenset[str]:
    """The values of a run's secret parameters in ``kwargs`` (JSON data) to search its
    text for: those of parameters ``names`` and of every key that names a secret, at
    any depth; their strings and numbers, at least MIN_PARAMETER_SECRET_LENGTH long."""
    found: set[str] = set()
    _secret_leaves(kwargs, frozenset(names), found)
    return frozenset(v for v in found if len(v) >= MIN_PARAMETER_SECRET_LENGTH)


def _secret_leaves(value: Any, names: frozenset[str], found: set[str], whole: bool = False) -> None:
    """Into ``found``, the texts of the secret values in ``value`` (every one if
    ``whole``: it is a secret's value); ``names`` are secret keys at its top."""
    if isinstance(value, dict):
        for key, item in value.items():
            secret = whole or key in names or (isinstance(key, str) and is_secret_key(key))
            _secret_leaves(item, frozenset(), found, secret)
    elif isinstance(value, list):
        for item in value:
            _secret_leaves(item, frozenset(), found, whole)
    elif whole and isinstance(value, str) and not value.startswith("${"):
        found.add(value)
    elif whole and isinstance(value, int | float) and not isinstance(value, bool):
        found.add(str(value))


def mask_values(text: str, values: Collection[str]) -> str:
    """``text`` with each of ``values`` (:func:`secret_values`) masked, longest first."""
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


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


def redact_json(value: Any, values: Collection[str] = ()) -> Any:
    """``value`` (JSON data) with every string in it redacted, ``values`` (a run's
    :func:`secret_values`) masked too, and the value of a key that names a secret
    (:func:`is_secret_key`: ``{"token": "..."}``, ``{"credentials": {...}}``) masked
    whole; null, true/false and a ``${VARIABLE}`` reference are kept."""
    if isinstance(value, str):
        return redact(mask_values(value, values))
    if isinstance(value, dict):
        return {key: _redact_item(key, item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_json(item, values) for item in value]
    return value


def redact_kwargs(kwargs: Any, names: Collection[str] = ()) -> Any:
    """A run's or schedule's ``kwargs`` (JSON data) as readers see them: as
    :func:`redact_json` shows them, the values of parameters ``names`` (declared secret,
    :func:`secret_parameters`) masked whole, and every secret value among them masked
    in the other values."""
    values = secret_values(kwargs, names)
    if not isinstance(kwargs, dict):
        return redact_json(kwargs, values)
    return {
        key: MASK if key in names and _maskable(item) else _redact_item(key, item, values)
        for key, item in kwargs.items()
    }


def _maskable(item: Any) -> bool:
    """Whether the value of a secret key is masked: null, true/false and a
    ``${VARIABLE}`` reference say nothing of the secret."""
    return (
        item is not None
        and not isinstance(item, bool)
        and not (isinstance(item, str) and item.startswith("${"))
    )


def _redact_item(key: Any, item: Any, values: Collection[str] = ()) -> Any:
    if isinstance(key, str) and _maskable(item) and is_secret_key(key):
        return MASK
    return redact_json(item, values)


def unmask(
    given: Mapping[str, Any], stored: Mapping[str, Any], names: Collection[str] = ()
) -> dict[str, Any]:
    """``given`` (JSON data sent to replace ``stored``, as ``stored`` was read: redacted,
    ``names`` as :func:`redact_kwargs` takes them) with each value that is exactly what a
    reader was shown of the stored value under the same key taken back to the stored
    value. A schedule's kwargs edited in the console come back so: saved as sent,
    ``"***"`` would replace the password."""
    shown = redact_kwargs(dict(stored), names)
    kept = dict(given)
    for key, value in given.items():
        if key in stored and value != stored[key] and value == shown[key]:
            kept[key] = stored[key]
    return kept


class RedactingFilter(logging.Filter):
    """Masks credentials in a record's message and traceback. Attached to the loggers of
    libraries that log request URLs (apprise, urllib3); hosts may attach it to their own
    handlers too."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record, redact)
        return True


def scrub_record(record: logging.LogRecord, clean: Callable[[str], str]) -> None:
    """``record``'s message and traceback as ``clean`` leaves them."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string is the emitter's problem, not ours
        return
    cleaned = clean(message)
    if cleaned != message:
        record.msg = cleaned
        record.args = None
    if record.exc_info and record.exc_info[0] is not None:
        text = record.exc_text or logging.Formatter().formatException(record.exc_info)
        masked = clean(text)
        if masked != text:
            record.exc_text = masked  # formatters use it instead of formatting again


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
