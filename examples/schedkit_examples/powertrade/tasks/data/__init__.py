"""Data tasks: cleanup, backup, archive."""

from __future__ import annotations
