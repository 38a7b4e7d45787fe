"""Example applications built on schedkit (see docs/example-powertrade.md)."""

from __future__ import annotations
