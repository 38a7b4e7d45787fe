"""A holiday notice entered confirmed must close each statutory holiday of its year, as
the source it replaces (for 2027, the ``holidays`` package's estimate) closes them; a
part of the notice is entered only when said partial, and then confirms nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Api, open_api
from tests.api.helpers import problem
from tests.notices import holidays_closed, whole

#: The console audit's notice: 元旦, 春节 and 国庆 only (清明, 劳动节, 端午, 中秋 left out).
PART_2027 = """\
放假 2027-01-01 至 2027-01-03 元旦
放假 2027-02-06 至 2027-02-12 春节
上班 2027-02-14 春节调休
放假 2027-10-01 至 2027-10-07 国庆节
"""
#: What it leaves open: each day off by law of the statutory holidays it does not close.
LEFT_OPEN = [
    {"date": "2027-02-05", "name": "Chinese New Year's Eve", "name_zh": "农历除夕"},
    {"date": "2027-04-05", "name": "Tomb-Sweeping Day", "name_zh": "清明节"},
    {"date": "2027-05-01", "name": "Labor Day", "name_zh": "劳动节"},
    {"date": "2027-05-02", "name": "Labor Day", "name_zh": "劳动节"},
    {"date": "2027-06-09", "name": "Dragon Boat Festival", "name_zh": "端午节"},
    {"date": "2027-09-15", "name": "Mid-Autumn Festival", "name_zh": "中秋节"},
]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from open_api(f"sqlite:///{tmp_path / 'schedkit.db'}")


def _day(year: dict[str, Any], day: str) -> dict[str, Any]:
    return next(d for d in year["days"] if d["date"] == day)


def test_a_notice_typed_in_part_is_refused_naming_the_holidays_it_leaves_open(
    api: Api,
) -> None:
    """An audit: the notice above entered on the console's calendar page saved without a
    word, marked 2027 confirmed and silenced its warning, and 2027-04-05 (清明, closed by
    the estimate) became "open, decided by notice": cn_workdays schedules fired on it."""
    body = problem(api.admin.put("/calendar-notices/2027", json={"text": PART_2027}), 409)
    assert body["type"].endswith("notice-misses-festivals")
    assert (body["year"], body["festivals"], body["source"]) == (2027, LEFT_OPEN, "holidays")
    assert body["detail"].startswith(
        "the 2027 notice entered leaves open 5 statutory holiday(s) that the holidays "
        "package's estimate closes: 2027-02-05 (Chinese New Year's Eve, 农历除夕), "
        "2027-04-05 (Tomb-Sweeping Day, 清明节), 2027-05-01 (Labor Day, 劳动节), "
    )
    assert "schedkit calendar notice 2027 FILE --partial; API: partial: true" in body["detail"]
    assert api.viewer.get("/calendar-notices/2027").json()["days"] == 0, "nothing entered"
    year = api.viewer.get("/calendars/cn_workdays/years/2027").json()
    assert year["coverage"] == {"year": 2027, "state": "estimated", "source": "holidays"}
    qingming = _day(year, "2027-04-05")
    assert (qingming["open"], qingming["source"]) == (False, "holidays")

    # A notice of one line: the same.
    one = problem(
        api.admin.put("/calendar-notices/2027", json={"text": "holiday 2027-05-01 劳动节"}), 409
    )
    assert [f["name_zh"] for f in one["festivals"]] == [
        "元旦", "农历除夕", "春节", "春节", "春节", "清明节", "劳动节", "端午节", "中秋节",
        "国庆节", "国庆节", "国庆节",
    ]  # fmt: skip
    # Not confirmed, nothing is refused: its days decide, the estimate the rest.
    unconfirmed = api.admin.put(
        "/calendar-notices/2027", json={"text": "holiday 2027-05-01 劳动节", "confirmed": False}
    )
    assert unconfirmed.status_code == 200, unconfirmed.text
    assert unconfirmed.json()["entered"]["confirmed"] is False


def test_a_notice_said_partial_is_entered_without_confirming_the_year(api: Api) -> None:
    response = api.admin.put("/calendar-notices/2027", json={"text": PART_2027, "partial": True})
    assert response.status_code == 200, response.text
    year = response.json()
    assert year["entered"] | {"version": 0} == {
        "year": 2027,
        "days": 18,
        "off": 17,
        "worked": 1,
        "confirmed": False,
        "version": 0,
    }
    assert year["coverage"] == {"year": 2027, "state": "estimated", "source": "notice"}
    assert [w["title"] for w in year["warnings"]] == ["calendar cn_workdays for 2027 not confirmed"]
    assert "entered in part and not confirmed" in year["warnings"][0]["message"]
    # Its days decide their dates; the estimate still closes the holidays it leaves out.
    makeup = _day(year, "2027-02-14")
    assert (makeup["open"], makeup["source"], makeup["confirmed"]) == (True, "notice", True)
    qingming = _day(year, "2027-04-05")
    assert (qingming["open"], qingming["source"], qingming["confirmed"]) == (
        False, "holidays", False,
    )  # fmt: skip
    stored = api.viewer.get("/calendar-notices/2027").json()
    assert (stored["days"], stored["confirmed"]) == (18, False)
    zh = api.viewer.get("/calendars/cn_workdays/years/2027?lang=zh").json()
    assert "国务院 2027 年节假日安排通知仅部分录入且未确认" in zh["warnings"][0]["message"]

    # The rest of the notice typed in: whole, it confirms the year.
    completed = api.admin.put("/calendar-notices/2027", json={"text": whole(2027, PART_2027)})
    assert completed.status_code == 200, completed.text
    assert completed.json()["coverage"]["state"] == "confirmed"
    assert completed.json()["warnings"] == []


def test_the_whole_notice_confirms_the_year_and_is_counted(api: Api) -> None:
    """The 2027 notice made of the estimate's days off (observed ones too) and a make-up
    workday: entered confirmed, without partial; the count says what it set."""
    closed = holidays_closed(2027)
    notice = whole(2027, "上班 2027-02-20 春节调休\n")
    response = api.admin.put("/calendar-notices/2027", json={"text": notice})
    assert response.status_code == 200, response.text
    year = response.json()
    assert year["entered"] | {"version": 0} == {
        "year": 2027,
        "days": len(closed) + 1,
        "off": len(closed),
        "worked": 1,
        "confirmed": True,
        "version": 0,
    }
    assert year["coverage"] == {"year": 2027, "state": "confirmed", "source": "notice"}
    assert year["warnings"] == []
    qingming = _day(year, "2027-04-05")
    assert (qingming["open"], qingming["source"], qingming["confirmed"]) == (
        False, "notice", True,
    )  # fmt: skip
    # Said partial, even a whole notice confirms nothing: the caller said it is a part.
    again = api.admin.put("/calendar-notices/2027", json={"text": notice, "partial": True})
    assert again.status_code == 200, again.text
    assert again.json()["entered"]["confirmed"] is False


#: A re-audit: every holiday by its first day, make-up days included, the ranges' ends
#: left out.
FIRST_DAYS_2027 = """\
放假 2027-01-01 元旦
放假 2027-02-05 春节
放假 2027-02-06 春节
上班 2027-02-14 春节调休
上班 2027-02-20 春节调休
放假 2027-04-05 清明节
放假 2027-05-01 劳动节
放假 2027-06-09 端午节
放假 2027-09-15 中秋节
放假 2027-10-01 国庆节
上班 2027-09-26 国庆节调休
上班 2027-10-09 国庆节调休
"""


def test_a_notice_of_first_days_alone_is_refused_naming_the_law_s_other_days(api: Api) -> None:
    """It was entered confirmed (only each holiday's first day was checked): 正月初三
    (2027-02-08), 05-02 and 10-02/10-03, days off by law, became workdays "decided by
    notice", and cn_workdays schedules fired on them."""
    body = problem(api.admin.put("/calendar-notices/2027", json={"text": FIRST_DAYS_2027}), 409)
    assert body["type"].endswith("notice-misses-festivals")
    assert [f["date"] for f in body["festivals"]] == [
        "2027-02-07",
        "2027-02-08",
        "2027-05-02",
        "2027-10-02",
        "2027-10-03",
    ]
    assert body["detail"].startswith("the 2027 notice entered leaves open 3 statutory holiday(s)")
    assert api.viewer.get("/calendar-notices/2027").json()["days"] == 0, "nothing entered"
