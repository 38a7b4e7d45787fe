"""Report tasks: daily, monthly and annual settlement reports (XLSX and CSV)."""

from __future__ import annotations
