"""Customer tasks: status update, contract consistency check."""

from __future__ import annotations
