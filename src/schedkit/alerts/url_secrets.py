"""Warnings for secrets written literally in alert channel URLs.

docs/monitoring.md: "Secrets are never written in the file: channel URLs name
environment variables as ``${NAME}``". ``alerts.email.password`` written in the file drew
a warning, but ``mailtos://bob:pw@…``, ``json://…?+X-Token=…`` and a webhook URL with
``?token=…`` did not (an audit). The warnings name where the secret is, never the
secret itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::raw)?\}")
#: Words of a query parameter's name (apprise: ``+`` header, ``-`` payload, ``:``
#: extra) that make its value a secret: ``token``, ``X-Token``, ``api_key``, ``pass``.
#: Whole words only: ``author=``, ``private=false`` and ``X-Auth-Mode`` are not secrets
#: (a re-audit: substring matching warned of them).
_SECRET_WORDS = frozenset(
    {
        "token",
        "secret",
        "password",
        "passwd",
        "pass",
        "pwd",
        "key",
        "apikey",
        "accesskey",
        "signature",
        "sig",
        "sign",
        "credential",
        "credentials",
        "authorization",
    }
)
#: apprise schemes whose URL itself is the credential: the part after ``://`` (and for
#: some the path) is a bot's token or signing secret (``dingtalk://SECRET@TOKEN/``,
#: ``wecombot://KEY``, ``slack://A/B/C``). A DingTalk path holds phone numbers, not
#: secrets, so the path counts only where it is a token.
_TOKEN_IN_HOST = frozenset(
    {"dingtalk", "wecombot", "feishu", "lark", "slack", "discord", "tgram", "msteams", "pover"}
)
_TOKEN_IN_PATH = frozenset({"slack", "discord", "msteams"})


def literal(value: str) -> bool:
    """Whether ``value`` holds text that is not a ``${NAME}`` reference."""
    return bool(_REF.sub("", value).strip("@:/."))


def _secret_name(name: str) -> bool:
    words = re.split(r"[^a-z0-9]+", name.lstrip("+-:").lower())
    return any(word in _SECRET_WORDS for word in words)


def url_warnings(url: str, where: str) -> list[str]:
    """What in ``url`` (a channel URL at ``where``) is a secret written literally."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return []
    found: list[str] = []
    scheme = parts.scheme.lower().removesuffix("s") if parts.scheme else ""
    if scheme in _TOKEN_IN_HOST and literal(parts.netloc):
        found.append(f"the {parts.scheme}:// token or key after '://'")
    elif password is not None and literal(password):
        found.append("the password in its user info")
    if scheme in _TOKEN_IN_PATH and literal(parts.path):
        found.append("the tokens in its path")
    # Split by hand: parse_qsl reads apprise's "+" (a header) as a space.
    for pair in filter(None, parts.query.split("&")):
        name, _, value = (unquote(p) for p in pair.partition("="))
        if _secret_name(name) and literal(value):
            found.append(f"query parameter {name!r}")
    if not found:
        return []
    return [
        f"{where} holds a secret written in the configuration file ({', '.join(found)}). "
        "Secrets do not belong there: write it as ${NAME} (for example ${ALERT_TOKEN}) and "
        "set that variable in the service's environment (it is filled in at each send)."
    ]


def channels_warnings(data: Mapping[str, Any], where: str = "alerts") -> list[str]:
    """The warnings for every channel URL in raw ``alerts`` settings (the design
    document's named channels are checked where they are translated)."""
    warnings: list[str] = []
    for index, entry in enumerate(data.get("channels") or ()):
        url = entry if isinstance(entry, str) else None
        if isinstance(entry, Mapping) and isinstance(entry.get("url"), str):
            url = entry["url"]
        if url is not None and "://" in url:
            warnings += url_warnings(url, f"{where}.channels[{index}].url")
    return warnings
