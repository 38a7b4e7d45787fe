"""数据备份 — a compressed, timestamped export of the domain data and the scheduler store.

File: ``<backup_dir>/powertrade-YYYYmmdd-HHMMSS.jsonl.gz``, gzip-compressed JSON lines::

    {"type": "header", "format": "powertrade-backup", "version": 1, "created_at": ..., ...}
    {"type": "row", "table": "customers", "data": {...}}          one per domain record
    {"type": "scheduler", "kind": "schedule", "data": {...}}      schedkit schedules
    {"type": "scheduler", "kind": "run", "data": {...}}           schedkit run history
    {"type": "footer", "counts": {"customers": 200, ...}}

The file is written under a temporary name and renamed when complete, so a crash never
leaves a truncated file with a backup's name; the footer lets the restore check that it
read everything. Only the newest ``keep_last`` backups are kept.
``python -m schedkit_examples.powertrade.restore FILE`` loads one into an empty database.
"""

from __future__ import annotations

import gzip
import json
import os
from datetime import datetime
from pathlib import Path
from typing import IO, Any, ClassVar
from zoneinfo import ZoneInfo

import pydantic

from schedkit import TaskPriority
from schedkit.models import to_json
from schedkit.store import create_store
from schedkit_examples.powertrade.domain import TABLES, PowertradeRepository
from schedkit_examples.powertrade.settings import PowertradeSettings
from schedkit_examples.powertrade.tasks.base_task import PowertradeTask

FORMAT = "powertrade-backup"
VERSION = 1
PREFIX = "powertrade-"
SUFFIX = ".jsonl.gz"
RUN_PAGE = 500


class BackupParameters(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    keep_last: int = pydantic.Field(
        default=7,
        ge=1,
        le=1000,
        title="保留备份份数",
        description="保留最近的备份份数，更早的备份将被删除",
    )
    include_scheduler: bool = pydantic.Field(
        default=True, title="包含调度器数据", description="同时导出调度计划和运行记录"
    )


def list_backups(backup_dir: Path) -> list[Path]:
    """Complete backups in ``backup_dir``, oldest first (names sort by time)."""
    if not backup_dir.is_dir():
        return []
    return sorted(
        p for p in backup_dir.iterdir() if p.name.startswith(PREFIX) and p.name.endswith(SUFFIX)
    )


def _line(out: IO[str], record: dict[str, Any]) -> None:
    out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    out.write("\n")


class DataBackupTask(PowertradeTask):
    """数据备份任务"""

    parameters: ClassVar[type[pydantic.BaseModel] | None] = BackupParameters

    @property
    def task_name(self) -> str:
        return "data_backup"

    @property
    def task_description(self) -> str:
        return "数据备份任务：导出业务数据与调度器数据为带时间戳的压缩文件，保留最近 N 份"

    @property
    def task_category(self) -> str:
        return "data"

    @property
    def task_tags(self) -> list[str]:
        return ["backup", "maintenance"]

    @property
    def task_priority(self) -> TaskPriority:
        return TaskPriority.HIGH

    @property
    def default_schedule(self) -> dict[str, Any]:
        return {
            "trigger": "cron",
            "hour": 1,
            "minute": 30,
            "misfire_grace_time": 3600,
            "max_instances": 1,
        }

    @property
    def retry_config(self) -> dict[str, Any]:
        return {"max_retries": 3, "retry_delay": 300, "backoff_factor": 2}

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        params = self.params(BackupParameters, kwargs)
        settings = self.settings()
        settings.backup_dir.mkdir(parents=True, exist_ok=True)
        local_now = datetime.now(ZoneInfo(settings.timezone))
        target = self._target(settings.backup_dir, local_now)
        partial = target.with_name(target.name + ".partial")
        counts: dict[str, int] = {}
        try:
            with gzip.open(partial, "wt", encoding="utf-8", compresslevel=6) as out:
                _line(
                    out,
                    {
                        "type": "header",
                        "format": FORMAT,
                        "version": VERSION,
                        "created_at": local_now.isoformat(),
                        "tables": list(TABLES),
                        "run_id": self.run_id,
                    },
                )
                async with self.repository(settings) as repo:
                    await self._export_domain(repo, out, counts)
                if params.include_scheduler:
                    await self._export_scheduler(settings, out, counts)
                _line(out, {"type": "footer", "counts": counts})
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)

        deleted = [p.name for p in list_backups(settings.backup_dir)[: -params.keep_last]]
        for name in deleted:
            (settings.backup_dir / name).unlink(missing_ok=True)
            self.log.info("deleted old backup %s", name)
        size = target.stat().st_size
        self.log.info("backup %s written: %d bytes, %s", target.name, size, counts)
        return {
            "success": True,
            "message": f"数据备份完成：{target.name}",
            "statistics": {"records": sum(counts.values()), "bytes": size, **counts},
            "data": {"file": target.name, "path": str(target), "deleted": deleted},
        }

    @staticmethod
    def _target(backup_dir: Path, now: datetime) -> Path:
        stem = f"{PREFIX}{now:%Y%m%d-%H%M%S}"
        target = backup_dir / f"{stem}{SUFFIX}"
        n = 1
        while target.exists():
            target = backup_dir / f"{stem}-{n}{SUFFIX}"
            n += 1
        return target

    async def _export_domain(
        self, repo: PowertradeRepository, out: IO[str], counts: dict[str, int]
    ) -> None:
        for i, table in enumerate(TABLES, 1):
            counts[table] = 0
            async for batch in repo.export(table):
                for row in batch:
                    _line(out, {"type": "row", "table": table, "data": row})
                counts[table] += len(batch)
            self.log.info("exported %s: %d records", table, counts[table])
            self.report_progress(i, len(TABLES) + 2, table)
            self.check_cancelled()

    async def _export_scheduler(
        self, settings: PowertradeSettings, out: IO[str], counts: dict[str, int]
    ) -> None:
        store = create_store(settings.store_url, **settings.store_options)
        await store.open()
        try:
            schedules = await store.list_schedules()
            for schedule in schedules:
                _line(out, {"type": "scheduler", "kind": "schedule", "data": to_json(schedule)})
            counts["scheduler.schedules"] = len(schedules)
            self.report_progress(len(TABLES) + 1, len(TABLES) + 2, "调度配置")
            seen: set[str] = set()
            offset = 0
            while True:
                page = await store.list_runs(limit=RUN_PAGE, offset=offset)
                for run in page:
                    if run.id not in seen:  # a run created meanwhile shifts the pages
                        seen.add(run.id)
                        _line(out, {"type": "scheduler", "kind": "run", "data": to_json(run)})
                if len(page) < RUN_PAGE:
                    break
                offset += RUN_PAGE
            counts["scheduler.runs"] = len(seen)
            self.report_progress(len(TABLES) + 2, len(TABLES) + 2, "执行记录")
        finally:
            await store.close()
