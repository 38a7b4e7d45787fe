"""数据清理 — retention of run history and logs, status history, temporary files and old
reports."""

from __future__ import annotations

import contextlib
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pydantic

from schedkit import TaskPriority
from schedkit.store import create_store
from schedkit_examples.powertrade.settings import PowertradeSettings
from schedkit_examples.powertrade.tasks.base_task import PowertradeTask


class CleanupParameters(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    run_history_days: int = pydantic.Field(
        default=90, ge=1, title="执行记录保留天数", description="任务执行记录及其日志保留的天数"
    )
    status_history_days: int = pydantic.Field(
        default=365, ge=1, title="状态记录保留天数", description="客户状态变更记录保留的天数"
    )
    temp_max_age_hours: float = pydantic.Field(
        default=24, ge=0, title="临时文件保留小时数", description="删除超过此时长的临时文件"
    )
    report_days: int | None = pydantic.Field(
        default=None,
        ge=1,
        title="报表保留天数",
        description="删除超过此天数的报表（默认：全部保留）",
    )


def remove_old_files(root: Path, max_age_seconds: float, now: float) -> tuple[int, int]:
    """Delete files under ``root`` last modified more than ``max_age_seconds`` ago, then
    the directories left empty. Returns (files deleted, bytes freed)."""
    if not root.is_dir():
        return 0, 0
    files = freed = 0
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            path = Path(dirpath, name)
            try:
                stat = path.stat()
                if now - stat.st_mtime > max_age_seconds:
                    path.unlink()
                    files += 1
                    freed += stat.st_size
            except FileNotFoundError:
                continue
        for name in dirnames:
            sub = Path(dirpath, name)
            with contextlib.suppress(OSError):  # only succeeds when empty
                sub.rmdir()
    return files, freed


class DataCleanupTask(PowertradeTask):
    """数据清理任务"""

    parameters: ClassVar[type[pydantic.BaseModel] | None] = CleanupParameters

    @property
    def task_name(self) -> str:
        return "data_cleanup"

    @property
    def task_description(self) -> str:
        return "数据清理任务：清理过期的任务执行记录与日志、客户状态变更记录、临时文件和旧报表"

    @property
    def task_category(self) -> str:
        return "data"

    @property
    def task_tags(self) -> list[str]:
        return ["cleanup", "retention", "maintenance"]

    @property
    def task_priority(self) -> TaskPriority:
        return TaskPriority.LOW

    @property
    def default_schedule(self) -> dict[str, Any]:
        return {
            "trigger": "cron",
            "hour": 3,
            "minute": 30,
            "misfire_grace_time": 3600,
            "max_instances": 1,
        }

    @property
    def retry_config(self) -> dict[str, Any]:
        return {"max_retries": 2, "retry_delay": 300, "backoff_factor": 2}

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        params = self.params(CleanupParameters, kwargs)
        settings = self.settings()
        now = self.now()

        runs_purged = await self._purge_runs(
            settings, now - timedelta(days=params.run_history_days)
        )
        self.log.info(
            "purged %d finished runs older than %d days", runs_purged, params.run_history_days
        )
        self.report_progress(1, 4, "执行记录")

        async with self.repository(settings) as repo:
            status_purged = await repo.purge_status_history(
                now - timedelta(days=params.status_history_days)
            )
        self.log.info("purged %d status history records", status_purged)
        self.report_progress(2, 4, "状态历史")

        clock = time.time()
        temp_files, temp_bytes = remove_old_files(
            settings.temp_dir, params.temp_max_age_hours * 3600, clock
        )
        self.log.info("deleted %d temporary files (%d bytes)", temp_files, temp_bytes)
        self.report_progress(3, 4, "临时文件")

        report_files = report_bytes = 0
        if params.report_days is not None:
            report_files, report_bytes = remove_old_files(
                settings.reports_dir, params.report_days * 86400, clock
            )
            self.log.info("deleted %d old report files", report_files)
        self.report_progress(4, 4, "旧报表")

        return {
            "success": True,
            "message": "数据清理完成",
            "statistics": {
                "runs_purged": runs_purged,
                "status_history_purged": status_purged,
                "temp_files_deleted": temp_files,
                "report_files_deleted": report_files,
                "bytes_freed": temp_bytes + report_bytes,
            },
            "data": None,
        }

    async def _purge_runs(self, settings: PowertradeSettings, cut_off: datetime) -> int:
        """Purge the scheduler's history through the store contract (the store may be
        another database than the domain data)."""
        store = create_store(settings.store_url, **settings.store_options)
        await store.open()
        try:
            return await store.purge_runs(cut_off)
        finally:
            await store.close()
