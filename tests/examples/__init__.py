"""Tests of the powertrade example (examples/schedkit_examples/powertrade)."""

from __future__ import annotations
