"""The design document's ``alerts`` shape, translated into channels.

The document's ``SCHEDULER_CONFIG`` names its channels and describes them in sections of
their own::

    "alerts": {
        "enabled": True,
        "channels": ["email", "webhook"],
        "email": {"smtp_server": "smtp.example.com", "smtp_port": 587,
                  "username": "alerts@example.com", "password": "${SMTP_PASSWORD}",
                  "recipients": ["admin@example.com"]},
        "webhook": {"url": "https://hooks.slack.com/services/T0/B0/XXXX", "channel": "#alerts"},
    }

:func:`translate` turns each named channel into the apprise URL that sends the same way:

* ``email`` → e-mail over SMTP, secured with STARTTLS (SSL from the first byte on port
  465), logging in with ``username`` / ``password``, from ``sender`` (default: the user
  name) to every recipient;
* ``webhook`` → a Slack message when ``url`` is a Slack incoming-webhook URL (to
  ``channel``), otherwise the alert POSTed as JSON to ``url`` (with ``channel`` in the
  payload when given).

Values written as ``${NAME}`` stay references to environment variables, filled in at send
time like any channel URL. A password written in the file works but draws a warning that
says how to move it into a variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from schedkit.alerts.url_secrets import url_warnings

__all__ = ["DOCUMENT_CHANNELS", "DocumentShapeError", "is_document_shape", "translate"]

#: Channel names of the document's shape, each described by the section of that name.
DOCUMENT_CHANNELS = ("email", "webhook")

_ENV_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?::raw)?\}$")
_SLACK_HOSTS = ("hooks.slack.com",)
#: SMTP ports where the connection is TLS from the first byte; elsewhere STARTTLS.
_SMTPS_PORTS = (465,)


class DocumentShapeError(ValueError):
    """A section of the document's shape cannot be translated; the message names it."""


def is_document_shape(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` (an ``alerts`` section) uses the document's shape."""
    named = [c for c in data.get("channels") or () if c in DOCUMENT_CHANNELS]
    return bool(named) or any(key in data for key in DOCUMENT_CHANNELS)


def translate(data: Mapping[str, Any], where: str = "alerts") -> tuple[dict[str, Any], list[str]]:
    """``data`` with the document's named channels replaced by channel tables (name and
    apprise URL) and their sections removed, plus warnings for the operator."""
    out = {k: v for k, v in data.items() if k not in DOCUMENT_CHANNELS}
    warnings: list[str] = []
    channels: list[Any] = []
    for index, entry in enumerate(data.get("channels") or ()):
        if not isinstance(entry, str):
            channels.append(entry)
            continue
        if entry not in DOCUMENT_CHANNELS:  # an apprise URL or table, validated as such
            channels.append(entry)
            continue
        section = data.get(entry)
        if not isinstance(section, Mapping):
            raise DocumentShapeError(
                f"{where}.channels.{index}: channel {entry!r} needs a section "
                f'"{entry}": {{...}} describing it'
            )
        build = _email if entry == "email" else _webhook
        channels.append({"name": entry, "url": build(section, f"{where}.{entry}", warnings)})
    out["channels"] = channels
    return out, warnings


def _required(section: Mapping[str, Any], key: str, where: str) -> str:
    value = section.get(key)
    if value is None or str(value).strip() == "":
        raise DocumentShapeError(f"{where}.{key}: missing")
    return str(value).strip()


def _part(value: str) -> str:
    """A URL part: ``${NAME}`` references as they are (expanded, encoded, at send time),
    anything else percent-encoded."""
    return value if _ENV_REF.match(value) else quote(value, safe="")


def _email(section: Mapping[str, Any], where: str, warnings: list[str]) -> str:
    server = _required(section, "smtp_server", where)
    port = int(section.get("smtp_port") or 587)
    recipients = section.get("recipients") or []
    if isinstance(recipients, str):
        recipients = [recipients]
    if not recipients:
        raise DocumentShapeError(f"{where}.recipients: name at least one address")
    username = str(section.get("username") or "").strip()
    password = str(section.get("password") or "")
    if password and not _ENV_REF.match(password):
        warnings.append(
            f"{where}.password is written in the configuration file, and an SMTP password "
            'does not belong there. Write "password": "${SMTP_PASSWORD}" instead and set '
            "SMTP_PASSWORD in the service's environment (it is filled in when a mail is sent)."
        )
    login = ""
    if username:
        login = _part(username) + (f":{_part(password)}" if password else "") + "@"
    sender = str(section.get("sender") or section.get("from") or username or f"schedkit@{server}")
    query = {
        "mode": "ssl" if port in _SMTPS_PORTS else "starttls",
        "from": sender,
        "to": ",".join(str(r).strip() for r in recipients),
    }
    return f"mailtos://{login}{server}:{port}?{urlencode(query, safe='${}')}"


def _webhook(section: Mapping[str, Any], where: str, warnings: list[str]) -> str:
    url = _required(section, "url", where)
    warnings += url_warnings(url, f"{where}.url")
    channel = str(section.get("channel") or "").strip()
    if _ENV_REF.match(url):
        raise DocumentShapeError(
            f'{where}.url: write the variable inside an URL ("https://${{HOOK_PATH:raw}}") '
            "so that the kind of webhook can be told"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DocumentShapeError(f"{where}.url: {url!r} is not an http(s) URL")
    if parts.hostname in _SLACK_HOSTS:
        tokens = [p for p in parts.path.split("/") if p and p != "services"]
        if len(tokens) != 3:
            raise DocumentShapeError(
                f"{where}.url: a Slack webhook URL looks like "
                "https://hooks.slack.com/services/T000/B000/XXXX"
            )
        target = f"/{quote(channel, safe='')}" if channel else ""
        return "slack://" + "/".join(tokens) + target
    scheme = "jsons" if parts.scheme == "https" else "json"
    query = [(f"-{k}", v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    if channel:
        query.append((":channel", channel))
    tail = f"?{urlencode(query, safe='${}')}" if query else ""
    return f"{scheme}://{parts.netloc}{parts.path or '/'}{tail}"
