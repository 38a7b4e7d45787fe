"""What the three reports share: aggregation of settlements and the XLSX / CSV writers.

A report covers a period [first, last]. It reads the settlements of the period
(archived ones included), aggregates them per customer and per day or month, and writes

* ``<reports_dir>/<kind>/report_<kind>_<label>.xlsx`` — sheets 汇总 (summary), 客户明细
  (per customer) and 日明细 / 月明细 (per day / month), via openpyxl;
* ``<reports_dir>/<kind>/report_<kind>_<label>.csv`` — the per-customer table (UTF-8 with
  BOM so that Excel shows the Chinese names).

The run result's ``data.files`` lists both, relative to the reports directory, which is
what the API and console offer for download.
"""

from __future__ import annotations

import abc
import csv
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from schedkit_examples.powertrade.domain.models import Customer, Settlement
from schedkit_examples.powertrade.tasks.base_task import AsOfParameters, PowertradeTask

__all__ = ["Column", "ReportTask", "Sheet", "customer_sheet", "period_sheet", "write_report"]

VOLUME_FORMAT = "#,##0.000"
AMOUNT_FORMAT = "#,##0.00"
PRICE_FORMAT = "#,##0.00"


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # CSV header
    label: str  # XLSX header
    number_format: str | None = None


@dataclass(frozen=True, slots=True)
class Sheet:
    title: str
    columns: list[Column]
    rows: list[list[Any]]


CUSTOMER_COLUMNS = [
    Column("customer_id", "客户编号"),
    Column("customer_name", "客户名称"),
    Column("region", "地区"),
    Column("status", "客户状态"),
    Column("days", "结算天数"),
    Column("volume_mwh", "结算电量(MWh)", VOLUME_FORMAT),
    Column("amount_yuan", "结算金额(元)", AMOUNT_FORMAT),
    Column("avg_price", "均价(元/MWh)", PRICE_FORMAT),
]


def _avg(amount: float, volume: float) -> float:
    return round(amount / volume, 2) if volume else 0.0


def customer_sheet(settlements: Iterable[Settlement], customers: dict[str, Customer]) -> Sheet:
    """One row per settled customer, ordered by customer id."""
    volume: dict[str, float] = defaultdict(float)
    amount: dict[str, float] = defaultdict(float)
    days: dict[str, set[date]] = defaultdict(set)
    for s in settlements:
        volume[s.customer_id] += s.volume
        amount[s.customer_id] += s.amount
        days[s.customer_id].add(s.day)
    rows = []
    for cid in sorted(volume):
        c = customers.get(cid)
        v, a = round(volume[cid], 3), round(amount[cid], 2)
        rows.append(
            [
                cid,
                c.name if c else "",
                c.region if c else "",
                c.status.value if c else "",
                len(days[cid]),
                v,
                a,
                _avg(a, v),
            ]
        )
    return Sheet("客户明细", CUSTOMER_COLUMNS, rows)


def period_sheet(
    title: str, label: str, settlements: Iterable[Settlement], key: Callable[[Settlement], str]
) -> Sheet:
    """One row per day or month (``key``): customers settled, volume, amount, price."""
    volume: dict[str, float] = defaultdict(float)
    amount: dict[str, float] = defaultdict(float)
    customers: dict[str, set[str]] = defaultdict(set)
    for s in settlements:
        k = key(s)
        volume[k] += s.volume
        amount[k] += s.amount
        customers[k].add(s.customer_id)
    columns = [
        Column("period", label),
        Column("customers", "结算客户数"),
        Column("volume_mwh", "结算电量(MWh)", VOLUME_FORMAT),
        Column("amount_yuan", "结算金额(元)", AMOUNT_FORMAT),
        Column("avg_price", "均价(元/MWh)", PRICE_FORMAT),
    ]
    rows = []
    for k in sorted(volume):
        v, a = round(volume[k], 3), round(amount[k], 2)
        rows.append([k, len(customers[k]), v, a, _avg(a, v)])
    return Sheet(title, columns, rows)


def totals(settlements: list[Settlement], customers: dict[str, Customer]) -> dict[str, Any]:
    volume = round(sum(s.volume for s in settlements), 3)
    amount = round(sum(s.amount for s in settlements), 2)
    by_status = Counter(c.status.value for c in customers.values())
    return {
        "settlements": len(settlements),
        "customers_settled": len({s.customer_id for s in settlements}),
        "customers_total": len(customers),
        "volume_mwh": volume,
        "amount_yuan": amount,
        "avg_price": _avg(amount, volume),
        "customers_by_status": dict(sorted(by_status.items())),
    }


# What a spreadsheet reads as the start of a formula (OWASP's list). Customer names come
# from the trading database, entered by people: "=HYPERLINK(...)" must stay a name.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: Any) -> Any:
    """A text cell a spreadsheet shows as text, never runs (numbers are left as they are)."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def _write_sheet(ws: Any, sheet: Sheet) -> None:
    ws.title = sheet.title
    ws.append([c.label for c in sheet.columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in sheet.rows:
        ws.append(row)
        for cell in ws[ws.max_row]:
            if cell.data_type == "f":  # openpyxl takes any text starting with "=" as one
                cell.data_type = "s"
    for i, column in enumerate(sheet.columns, 1):
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = max(12, len(column.label) * 2 + 2)
        if column.number_format:
            for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = column.number_format
    ws.freeze_panes = "A2"


def write_report(
    reports_dir: Path,
    kind: str,
    label: str,
    summary: list[tuple[str, Any]],
    sheets: list[Sheet],
) -> list[str]:
    """Write the XLSX (summary + ``sheets``) and the CSV (``sheets[0]``); the file names
    relative to ``reports_dir``. Files are replaced atomically."""
    folder = reports_dir / kind
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"report_{kind}_{label}"
    xlsx, csv_path = folder / f"{stem}.xlsx", folder / f"{stem}.csv"

    wb = Workbook()
    ws = wb.active
    ws.title = "汇总"
    for key, value in summary:
        ws.append([key, value])
    for (cell,) in ws.iter_rows(min_col=1, max_col=1):
        cell.font = Font(bold=True)
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 24
    for sheet in sheets:
        _write_sheet(wb.create_sheet(), sheet)
    tmp = xlsx.with_name(xlsx.name + ".partial")
    wb.save(tmp)
    os.replace(tmp, xlsx)

    main = sheets[0]
    tmp = csv_path.with_name(csv_path.name + ".partial")
    with tmp.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow([c.key for c in main.columns])
        writer.writerows([_csv_text(v) for v in row] for row in main.rows)
    os.replace(tmp, csv_path)
    return [f"{kind}/{xlsx.name}", f"{kind}/{csv_path.name}"]


class ReportTask(PowertradeTask):
    """A settlement report over a period (abstract: the three reports fill it in)."""

    #: ``daily`` / ``monthly`` / ``annual``: folder and file name part.
    kind: str = ""

    @abc.abstractmethod
    def period(self, params: Any, today: date) -> tuple[date, date, str]:
        """(first day, last day, label) of the report."""

    @abc.abstractmethod
    def detail_sheet(self, settlements: list[Settlement]) -> Sheet:
        """The second detail table (per day or per month)."""

    @property
    def task_category(self) -> str:
        return "report"

    @property
    def retry_config(self) -> dict[str, Any]:
        return {"max_retries": 3, "retry_delay": 300, "backoff_factor": 2}

    async def build_report(self, params: AsOfParameters) -> dict[str, Any]:
        settings = self.settings()
        today = self.business_date(params.as_of, settings)
        first, last, label = self.period(params, today)
        self.log.info("%s report %s: settlements %s ~ %s", self.kind, label, first, last)
        async with self.repository(settings) as repo:
            settlements = await repo.settlements_between(first, last)
            customers = {c.id: c for c in await repo.list_customers()}
        self.report_progress(1, 3, "已加载结算数据")
        sheets = [customer_sheet(settlements, customers), self.detail_sheet(settlements)]
        total = totals(settlements, customers)
        summary: list[tuple[str, Any]] = [
            ("报表", self.task_description.split("：", 1)[0]),
            ("期间", f"{first} ~ {last}"),
            ("结算记录数", total["settlements"]),
            ("结算客户数", total["customers_settled"]),
            ("客户总数", total["customers_total"]),
            ("结算电量(MWh)", total["volume_mwh"]),
            ("结算金额(元)", total["amount_yuan"]),
            ("均价(元/MWh)", total["avg_price"]),
        ]
        summary += [(f"客户状态: {k}", v) for k, v in total["customers_by_status"].items()]
        self.report_progress(2, 3, "已汇总")
        files = write_report(settings.reports_dir, self.kind, label, summary, sheets)
        self.report_progress(3, 3, "报表已写入")
        self.log.info("wrote %s (%d settlements)", ", ".join(files), total["settlements"])
        return {
            "success": True,
            "message": f"{label} 报表已生成",
            "statistics": {
                "settlements": total["settlements"],
                "customers_settled": total["customers_settled"],
                "volume_mwh": total["volume_mwh"],
                "amount_yuan": total["amount_yuan"],
            },
            "data": {
                "files": files,
                "period": {"first": first.isoformat(), "last": last.isoformat(), "label": label},
                "totals": total,
            },
        }
