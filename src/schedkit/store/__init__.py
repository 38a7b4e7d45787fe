"""Stores: one contract (:class:`Store`), one backend per database family."""

from __future__ import annotations

from schedkit.limits import MAX_RESULT_BYTES
from schedkit.store._upgrade import UpgradeCheck
from schedkit.store.base import Store
from schedkit.store.factory import create_store
from schedkit.store.urls import mask_url
from schedkit.store.values import (
    FireRecord,
    LeaseFence,
    LostRun,
    RollupRebuild,
    RunFinish,
    RunRequeue,
    ScheduleAdvance,
)

__all__ = [
    "MAX_RESULT_BYTES",
    "FireRecord",
    "LeaseFence",
    "LostRun",
    "RollupRebuild",
    "RunFinish",
    "RunRequeue",
    "ScheduleAdvance",
    "Store",
    "UpgradeCheck",
    "create_store",
    "mask_url",
]
