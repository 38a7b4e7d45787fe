"""Contract tasks: expiry check, auto-renewal."""

from __future__ import annotations
