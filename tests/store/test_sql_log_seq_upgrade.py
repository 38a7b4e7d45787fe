"""Schema version 9: log line numbers are 64-bit. A version-8 store keeps its lines
through the upgrade and then takes those of fourth attempts (numbered from 3 * 10**9,
which PostgreSQL's 32-bit column refused); code of version 8 keeps working on it."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa

from schedkit.engine.executor import SEQ_PER_ATTEMPT
from schedkit.errors import StoreError
from schedkit.models import LogLine
from schedkit.store.sql import SQLStore
from schedkit.store.sql import migrations as _sql_migrations
from schedkit.store.sql.columns import UTCDateTime
from tests.store._versions import create_v1, on_database
from tests.store.test_sql_migrations import CURRENT, RELEASED, T0, at_version_8

pytestmark = pytest.mark.parametrize(
    "store_url",
    [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.external_service),
    ],
    indirect=True,
)


def line(attempt: int, n: int = 0) -> LogLine:
    return LogLine(run_id="r1", seq=(attempt - 1) * SEQ_PER_ATTEMPT + n, attempt=attempt, ts=T0,
                   level="INFO", logger="t", message=f"attempt {attempt} line {n}")  # fmt: skip


def insert_as_version_8(lines: list[LogLine]) -> sa.Executable:
    """The insert of code of version 8, whose ``seq`` is a 32-bit INTEGER."""
    table = sa.Table(
        "schedkit_run_logs",
        sa.MetaData(),
        sa.Column("run_id", sa.String, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("attempt", sa.Integer),
        sa.Column("ts", UTCDateTime()),
        sa.Column("level", sa.String),
        sa.Column("logger", sa.String),
        sa.Column("message", sa.Text),
    )
    return table.insert().values(
        [{f: getattr(x, f) for f in x.__dataclass_fields__} for x in lines]
    )


async def test_a_version_8_store_keeps_its_lines_and_takes_fourth_attempts_after_the_upgrade(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert CURRENT == 9
    await on_database(store_url, create_v1)
    async with SQLStore(store_url):
        pass
    await on_database(store_url, at_version_8)
    earlier = [line(1), line(1, 1), line(2), line(3, 999_999)]
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", RELEASED[:-1])
    async with SQLStore(store_url) as store:  # code of version 8
        assert await store.schema_version() == 8
        await store.append_logs(earlier)
        if store_url.startswith("postgresql"):
            with pytest.raises(StoreError, match=r"out of (int32 )?range"):
                await store.append_logs([line(4)])

    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", RELEASED)
    async with SQLStore(store_url) as store:
        assert await store.schema_version() == 9
        assert await store.get_logs("r1") == earlier
        await store.append_logs([line(4), line(4, 1)])
        assert await store.get_logs("r1") == [*earlier, line(4), line(4, 1)]
        assert await store.get_logs("r1", after_seq=earlier[-1].seq) == [line(4), line(4, 1)]

    # Code of version 8 still opens the store, reads the new lines and writes its own
    # (with a 32-bit cast: until its node is upgraded, it cannot store a fourth attempt's).
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", RELEASED[:-1])
    async with SQLStore(store_url) as older:
        assert await older.schema_version() == 9
        third = replace(line(3, 1_000_000), message="written by older code")
        await on_database(store_url, lambda conn: conn.execute(insert_as_version_8([third])))
        assert await older.get_logs("r1") == [*earlier, third, line(4), line(4, 1)]
