"""Integrations with host frameworks (FastAPI) and execution engines (Celery)."""

from __future__ import annotations
