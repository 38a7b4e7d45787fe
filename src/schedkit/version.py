"""The package version, in one place (the façade, the API and the CLI show it)."""

from __future__ import annotations

__version__ = "0.1.0"
