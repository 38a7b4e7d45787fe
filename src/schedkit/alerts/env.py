"""``${NAME}`` references to environment variables in alert channel settings.

Secrets never sit in the configuration: a channel names the variables that hold them and
they are read at every send, so rotating a secret needs no restart. Each expansion also
returns the values it inserted, so callers can mask them wherever they might show.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

from schedkit.errors import ConfigError

_ENV_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<mode>raw))?\}")


def expand_url(
    template: str, environ: Mapping[str, str], *, raw: bool = False
) -> tuple[str, list[str]]:
    """``template`` with ``${NAME}`` / ``${NAME:raw}`` filled from ``environ``, and the
    secret values inserted (both forms), for masking. ConfigError names a missing one.

    ``raw``: insert every value as is (for header values and SDK settings rather than
    URLs)."""
    secrets: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group("name")
        value = environ.get(name)
        if value is None:
            raise ConfigError(f"environment variable {name} (named in an alert channel) is not set")
        secrets.append(value)
        if raw or match.group("mode") == "raw":
            return value
        quoted = quote(value, safe="")
        if quoted != value:
            secrets.append(quoted)
        return quoted

    return _ENV_REF.sub(fill, template), secrets


def env_names(template: str) -> list[str]:
    """The variable names ``template`` refers to, in order."""
    return [m.group("name") for m in _ENV_REF.finditer(template)]
