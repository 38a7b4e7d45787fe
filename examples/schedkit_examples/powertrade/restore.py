"""Restore a ``data_backup`` file into a database.

    python -m schedkit_examples.powertrade.restore BACKUP_FILE [--db-url URL] [--database NAME]
                                          [--force] [--schedules]

Domain data is loaded into an **empty** domain database (``--force`` first deletes what
is there). With ``--schedules`` the scheduler's schedules are restored too (into the
configured store; run history stays in the file as a record). The backup's footer is
checked: a truncated or foreign file is refused before anything is written.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gzip
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from schedkit.models import OverlapPolicy, Schedule
from schedkit.store import Store, create_store
from schedkit_examples.powertrade.domain import MODELS, TABLES, PowertradeRepository, repository_for
from schedkit_examples.powertrade.domain.models import Record
from schedkit_examples.powertrade.settings import PowertradeSettings, load_settings
from schedkit_examples.powertrade.tasks.data.backup import FORMAT, VERSION

__all__ = ["BackupError", "read_backup", "restore", "restore_schedules"]

logger = logging.getLogger(__name__)
BATCH = 5000


class BackupError(Exception):
    """The file is not a complete powertrade backup."""


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BackupError(f"{path}: line {n} is not JSON ({exc})") from None
    except (OSError, EOFError) as exc:
        raise BackupError(f"{path}: cannot read ({exc})") from None


class _Checker:
    """Follows the records of a backup file: header first, footer last, counts equal."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.header: dict[str, Any] | None = None
        self.footer: dict[str, Any] | None = None
        self.counts: dict[str, int] = {}

    def see(self, record: dict[str, Any]) -> None:
        kind = record.get("type")
        if self.header is None:
            if kind != "header" or record.get("format") != FORMAT:
                raise BackupError(f"{self.path} is not a {FORMAT} file")
            if record.get("version") != VERSION:
                raise BackupError(f"{self.path}: unsupported version {record.get('version')!r}")
            self.header = record
        elif self.footer is not None:
            raise BackupError(f"{self.path}: records after the footer")
        elif kind == "row":
            table = record.get("table")
            if table not in MODELS:
                raise BackupError(f"{self.path}: unknown table {table!r}")
            self.counts[table] = self.counts.get(table, 0) + 1
        elif kind == "scheduler":
            key = f"scheduler.{record.get('kind')}s"
            self.counts[key] = self.counts.get(key, 0) + 1
        elif kind == "footer":
            self.footer = record

    def finish(self) -> dict[str, Any]:
        if self.header is None:
            raise BackupError(f"{self.path} is empty")
        if self.footer is None:
            raise BackupError(f"{self.path} is truncated (no footer)")
        expected = {k: v for k, v in self.footer["counts"].items() if v}
        if expected != self.counts:
            raise BackupError(
                f"{self.path}: records {self.counts} do not match the footer {expected}"
            )
        return self.footer


def read_backup(path: Path) -> dict[str, Any]:
    """Check the whole file (header, footer, counts) without loading it; the footer."""
    checker = _Checker(path)
    for record in _lines(path):
        checker.see(record)
    return checker.finish()


async def restore(path: Path, repo: PowertradeRepository, *, force: bool = False) -> dict[str, int]:
    """Load the domain tables of backup ``path`` into ``repo`` (opened), in one pass.

    Refuses a non-empty repository unless ``force`` (then clears it first). A damaged
    file (foreign, truncated, counts not matching its footer) raises BackupError and
    leaves the repository empty, as it was. Returns the records loaded per table.
    """
    if not await repo.is_empty():
        if not force:
            raise BackupError(
                f"{repo.display_url} already holds powertrade data; "
                "restore into an empty database or pass --force"
            )
        read_backup(path)  # check the file before deleting anything
        await repo.clear()
    checker = _Checker(path)
    loaded = dict.fromkeys(TABLES, 0)
    pending: dict[str, list[Record]] = {t: [] for t in TABLES}

    async def flush(table: str) -> None:
        if pending[table]:
            await repo.insert_many(table, pending[table])
            loaded[table] += len(pending[table])
            pending[table] = []

    try:
        for record in _lines(path):
            checker.see(record)
            if record.get("type") == "row":
                table = record["table"]
                pending[table].append(MODELS[table].from_json(record["data"]))
                if len(pending[table]) >= BATCH:
                    await flush(table)
        checker.finish()
        for table in TABLES:
            await flush(table)
    except BaseException:
        await repo.clear()
        raise
    logger.info("restored %s from %s into %s", loaded, path.name, repo.display_url)
    return loaded


def _schedule(data: dict[str, Any]) -> Schedule:
    values = dict(data)
    for name in ("next_fire_time", "last_fire_time", "created_at", "updated_at"):
        if values.get(name) is not None:
            values[name] = datetime.fromisoformat(values[name])
    values["overlap"] = OverlapPolicy(values["overlap"])
    return Schedule(**values)


async def restore_schedules(path: Path, store: Store) -> int:
    """Put the backup's schedules into ``store`` (opened), replacing same ids."""
    read_backup(path)
    count = 0
    for record in _lines(path):
        if record.get("type") == "scheduler" and record.get("kind") == "schedule":
            schedule = _schedule(record["data"])
            current = await store.get_schedule(schedule.id)
            # A new version of whatever is stored under that id (compare-and-set).
            version = current.version if current is not None else 0
            await store.put_schedule(
                dataclasses.replace(schedule, version=version + 1), expected_version=version
            )
            count += 1
    return count


def _schedule_store(
    db_url: str | None, database: str | None, settings: PowertradeSettings
) -> tuple[str, dict[str, Any]]:
    """Where ``--schedules`` go: the target database when ``--db-url`` names one (the
    scheduler store shares the app's database), else the configured store. Going to the
    configured store whatever the target, a restore meant for a copy overwrote the live
    schedules (a pause undone, every version bumped)."""
    if db_url is None:
        return settings.store_url, dict(settings.store_options)
    options = {"database": database} if database and db_url.startswith("mongodb") else {}
    return db_url, options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m schedkit_examples.powertrade.restore",
        description="Restore a powertrade backup (data_backup) into an empty database.",
    )
    parser.add_argument("backup_file", type=Path)
    parser.add_argument("--db-url", help="target database URL (default: from settings)")
    parser.add_argument("--database", help="MongoDB database name")
    parser.add_argument("--force", action="store_true", help="delete existing domain data first")
    parser.add_argument(
        "--schedules", action="store_true", help="also restore the scheduler's schedules"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    overrides = {"db_url": args.db_url, "database": args.database}
    settings = load_settings(overrides)

    async def run() -> None:
        async with repository_for(settings) as repo:
            counts = await restore(args.backup_file, repo, force=args.force)
        logger.info("domain data restored: %s", counts)
        if args.schedules:
            url, options = _schedule_store(args.db_url, args.database, settings)
            store = create_store(url, **options)
            async with store:
                n = await restore_schedules(args.backup_file, store)
            logger.info("%d schedules restored into %s", n, store.display_url)

    try:
        asyncio.run(run())
    except BackupError as exc:
        logger.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
