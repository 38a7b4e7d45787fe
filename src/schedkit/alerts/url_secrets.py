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
#: Query parameter (apprise: ``+`` header, ``-`` payload, ``:`` extra) names that carry
#: secrets: any name containing one of these words.
_SECRET_WORDS = re.compile(
    r"token|secret|passw|passwd|pwd|apikey|api_key|api-key|auth|credential|signature|"
    r"private|access_key|accesskey|^key$|^sig$|^pass$|^sign$"
)


def literal(value: str) -> bool:
    """Whether ``value`` holds text that is not a ``${NAME}`` reference."""
    return bool(value) and not _REF.search(value)


def url_warnings(url: str, where: str) -> list[str]:
    """What in ``url`` (a channel URL at ``where``) is a secret written literally."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return []
    found: list[str] = []
    if password is not None and literal(password):
        found.append("the password in its user info")
    # Split by hand: parse_qsl reads apprise's "+" (a header) as a space.
    for pair in filter(None, parts.query.split("&")):
        name, _, value = (unquote(p) for p in pair.partition("="))
        if _SECRET_WORDS.search(name.lstrip("+-:").lower()) and literal(value):
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
