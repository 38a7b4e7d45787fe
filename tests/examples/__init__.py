"""Tests of the powertrade example (examples/powertrade)."""

from __future__ import annotations
