"""``schedkit calendar …`` and the calendar warnings of ``schedkit check`` / ``next``."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import date

from schedkit.models import AuditEvent
from schedkit.store import create_store
from tests.cli.conftest import Cli, one_error_line
from tests.notices import whole

THIS_YEAR = date.today().year
NEXT_YEAR = THIS_YEAR + 1
#: The statutory holidays of 2027 after the Spring Festival: a notice entered confirmed
#: closes each, so the tests' notices end with them.
REST_2027 = (
    "放假 2027-04-05 清明节\n放假 2027-05-01 至 2027-05-05 劳动节\n放假 2027-06-09 端午节\n"
    "放假 2027-09-15 中秋节\n放假 2027-10-01 至 2027-10-07 国庆节\n"
)


def test_calendar_commands_edit_show_import_and_export(stored: Cli) -> None:
    cli = stored
    assert cli("calendar", "set", "sd-spot", "--base", "none", "-d", "山东现货").exit_code == 0
    csv = cli.cwd / "spot.csv"
    csv.write_text(f"date,status,kind,note\n{NEXT_YEAR}-01-04,open,trading_day,首日\n")
    result = cli("calendar", "import", "sd-spot", str(csv), "--confirm-year", str(NEXT_YEAR))
    assert result.exit_code == 0, result.output
    assert "1 override(s), version 2" in result.stdout
    added = cli(
        "calendar", "override", "add", "sd-spot", f"{NEXT_YEAR}-01-05", f"{NEXT_YEAR}-01-06",
        "--open", "--kind", "trading_day",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    removed = cli("calendar", "override", "remove", "sd-spot", f"{NEXT_YEAR}-01-06")
    assert "2 override(s)" in removed.stdout
    # Removing it again, or with a date that never had one, is refused whole.
    again = cli(
        "calendar", "override", "remove", "sd-spot", f"{NEXT_YEAR}-01-05", f"{NEXT_YEAR}-01-06"
    )
    assert again.exit_code == 2
    assert one_error_line(again.stderr).endswith(
        f"calendar 'sd-spot' has no override on {NEXT_YEAR}-01-06"
    )
    exported = cli("calendar", "export", "sd-spot", "--format", "csv")
    assert exported.stdout.splitlines() == [
        "date,status,kind,note",
        f"{NEXT_YEAR}-01-04,open,trading_day,首日",
        f"{NEXT_YEAR}-01-05,open,trading_day,",
    ]
    listed = json.loads(cli("calendar", "list", "--json").stdout)
    spot = next(c for c in listed if c["name"] == "sd-spot")
    assert spot["version"] == 4 and spot["confirmed_years"] == [NEXT_YEAR]
    shown = cli("calendar", "show", "sd-spot", str(NEXT_YEAR))
    assert shown.exit_code == 0, shown.output
    assert f"sd-spot {NEXT_YEAR}: 2 open days, confirmed (override)" in shown.stdout
    assert f"calendar sd-spot: {NEXT_YEAR}-01-04 open (首日), decided by override" in shown.stdout
    bad = cli.cwd / "bad.csv"
    bad.write_text("2027-02-30,open\n")
    refused = cli("calendar", "import", "sd-spot", str(bad))
    assert refused.exit_code != 0 and "line 1" in refused.output


def test_year_view_of_the_chinese_calendar(stored: Cli) -> None:
    data = json.loads(stored("calendar", "show", "cn_workdays", "2025", "--json").stdout)
    days = {d["date"]: d for d in data["days"]}
    assert days["2025-09-28"]["open"] and days["2025-09-28"]["source"] == "chinese-calendar"
    zh = stored("--lang", "zh", "calendar", "show", "cn_workdays", "2026")
    assert "2026-02-14 开放" in zh.stdout and "已确认" in zh.stdout


def test_check_and_warnings_show_an_unconfirmed_year_until_it_is_entered(stored: Cli) -> None:
    cli = stored
    assert cli("calendar", "set", "sd-spot", "--base", "none").exit_code == 0
    spec = json.dumps({"trigger": "cron", "hour": 9, "calendar": "sd-spot"})
    result = cli("schedule", "hello", "--spec", spec)
    assert result.exit_code == 0, result.output
    title = f"calendar sd-spot for {THIS_YEAR} not confirmed"
    check = json.loads(cli("check", "--json").stdout)
    assert check["ok"] is True
    assert {"where": "calendar sd-spot", "warning": f"no day of {THIS_YEAR} is entered, so "
            "the calendar is closed all year. Enter its open days for "
            f"{THIS_YEAR} and mark the year confirmed."} in check["warnings"]  # fmt: skip
    assert f"warning calendar sd-spot: no day of {THIS_YEAR}" in cli("check").stdout
    warned = cli("calendar", "warnings")
    assert warned.exit_code == 1 and title in warned.stdout
    for year in {THIS_YEAR, NEXT_YEAR}:
        assert cli("calendar", "confirm", "sd-spot", str(year)).exit_code == 0
    assert cli("calendar", "warnings").exit_code == 0
    check = json.loads(cli("check", "--json").stdout)
    assert not [w for w in check["warnings"] if w["where"] == "calendar sd-spot"]
    # An audit: an undo was recorded as "calendar.confirm", no year named.
    assert cli("calendar", "confirm", "sd-spot", str(NEXT_YEAR), "--undo").exit_code == 0
    assert cli("calendar", "warnings").exit_code == 1
    (undone,) = asyncio.run(_audit(cli, "calendar.unconfirm"))
    assert (undone.target, undone.detail) == ("sd-spot", str(NEXT_YEAR))


async def _audit(cli: Cli, action: str) -> list[AuditEvent]:
    async with create_store(f"sqlite:///{cli.db}") as store:
        return await store.list_audit(action=action)


def test_notice_command_enters_the_state_council_notice(stored: Cli) -> None:
    notice = stored.cwd / "2027.txt"
    notice.write_text(whole(2027, "放假 2027-01-01 至 2027-01-03 元旦\n上班 2027-01-09 调休\n"))
    result = stored("calendar", "notice", "2027", str(notice))
    assert result.exit_code == 0, result.output
    data = json.loads(stored("calendar", "show", "cn_workdays", "2027", "--json").stdout)
    assert data["coverage"] == {"year": 2027, "state": "confirmed", "source": "notice"}
    assert data["warnings"] == []


def test_a_chinese_calendars_year_is_confirmed_by_the_notice_not_by_confirm(stored: Cli) -> None:
    """An audit: `calendar notice 2027 notice-2027.txt` (245 open days), then `calendar
    confirm cn_workdays 2027` as every warning asked: accepted without a word, and
    cn_workdays 2027 had 261 open days, New Year's Day open "decided by override"."""
    notice = stored.cwd / "notice-2027.txt"
    notice.write_text(whole(2027, "放假 2027-01-01 至 2027-01-03 元旦\n上班 2027-01-09 元旦调休\n"))
    assert stored("calendar", "notice", "2027", str(notice)).exit_code == 0
    assert stored("calendar", "set", "settle", "--base", "cn_holidays").exit_code == 0
    days = stored.cwd / "maintenance.csv"
    days.write_text("2027-01-08,closed,extra_closed,系统维护\n")
    for args in (
        ("calendar", "confirm", "cn_workdays", "2027"),
        ("calendar", "confirm", "settle", "2027"),
        ("calendar", "import", "cn_workdays", str(days), "--confirm-year", "2027"),
    ):
        refused = stored(*args)
        assert refused.exit_code == 2, refused.output
        line = one_error_line(refused.stderr)
        assert "confirmed by entering the State Council's holiday notice" in line, line
        assert "schedkit calendar notice 2027 FILE" in line
        assert "PUT /calendar-notices/2027" in line
    shown = json.loads(stored("calendar", "show", "cn_workdays", "2027", "--json").stdout)
    assert shown["coverage"] == {"year": 2027, "state": "confirmed", "source": "notice"}
    by_date = {d["date"]: d for d in shown["days"]}
    assert not by_date["2027-01-01"]["open"] and by_date["2027-01-01"]["source"] == "notice"
    assert by_date["2027-01-09"]["open"] and by_date["2027-01-08"]["open"], "nothing imported"
    listed = json.loads(stored("calendar", "list", "--json").stdout)
    assert all(c["confirmed_years"] == [] for c in listed), listed
    helped = " ".join(stored("calendar", "confirm", "--help").stdout.split())
    assert "e.g. cn_workdays" not in helped and "e.g. sd-spot" in helped
    assert "schedkit calendar notice 2027 FILE" in helped


def test_a_notice_with_a_day_of_another_year_or_no_holiday_is_refused(stored: Cli) -> None:
    notice = stored.cwd / "2027.txt"
    notice.write_text("放假 2027-01-01 元旦\n放假 2028-01-03 至 2028-01-07 typo\n")
    typo = stored("calendar", "notice", "2027", str(notice))
    assert typo.exit_code == 2
    assert "line 2: 2028-01-03 is not a day a 2027 notice sets" in typo.output
    notice.write_text("# nothing yet\n")
    empty = stored("calendar", "notice", "2027", str(notice))
    assert empty.exit_code == 2 and "closes no day of 2027" in empty.output
    data = json.loads(stored("calendar", "show", "cn_workdays", "2027", "--json").stdout)
    assert data["coverage"]["state"] == "estimated", "nothing was entered"


def test_next_decides_with_the_notices_entered_in_the_store(stored: Cli) -> None:
    """An audit: after the 2027 notice was entered, `schedkit schedule` said the next run
    was the make-up Sunday 2027-01-31 while `schedkit next` with the same spec said
    2028-01-31, "not confirmed", and asked for the notice already entered."""
    notice = stored.cwd / "2027.txt"
    notice.write_text(whole(2027, "放假 2027-01-01 元旦\n上班 2027-01-31 春节调休\n"))
    assert stored("calendar", "notice", "2027", str(notice)).exit_code == 0
    spec = {"trigger": "cron", "hour": 9, "month": 1, "day": 31, "calendar": "cn_workdays"}
    data = json.loads(stored("next", json.dumps(spec), "-n", "1", "--json").stdout)
    assert data["fires"] == ["2027-01-31T09:00:00+08:00"]
    assert data["calendar_notes"] == [
        "calendar cn_workdays: 2027-01-31 open (春节调休), decided by notice"
    ]
    assert not any("2027" in w for w in data["calendar_warnings"])


def test_next_names_the_deciding_source(cli: Cli) -> None:
    spec = {"trigger": "cron", "hour": 9, "calendar": "cn_workdays"}
    later = {**spec, "start_date": "2098-12-31T00:00:00"}
    data = json.loads(cli("next", json.dumps(later), "-n", "2", "--json").stdout)
    assert data["fires"] == ["2098-12-31T09:00:00+08:00", "2099-01-02T09:00:00+08:00"]
    assert data["calendar_notes"] == [
        "calendar cn_workdays: 2098-12-31 open, decided by holidays (not confirmed)",
        "calendar cn_workdays: 2099-01-02 open, decided by holidays (not confirmed)",
    ]
    assert data["calendar_warnings"] == [
        "calendar cn_workdays for 2098 not confirmed",
        "calendar cn_workdays for 2099 not confirmed",
    ]
    missing = cli("next", json.dumps({**spec, "calendar": "sd-spot"}))
    assert missing.exit_code != 0 and "knows the built-in calendars" in missing.output


def test_next_says_an_nth_day_rule_in_chinese(cli: Cli) -> None:
    """An audit: `--lang zh next` printed "3rd open day of the month in cn_workdays
    (2027-01)" inside the Chinese line."""
    spec = json.dumps({"trigger": "cron", "hour": 9, "calendar": {"name": "cn_workdays", "nth": 3}})
    zh = cli("--lang", "zh", "next", spec, "-n", "2")
    assert zh.exit_code == 0, zh.output
    assert "open day" not in zh.stdout
    data = json.loads(cli("--lang", "zh", "next", spec, "-n", "2", "--json").stdout)
    for fire, note in zip(data["fires"], data["calendar_notes"], strict=True):
        month = fire[:7]
        assert f"，每月第 3 个 cn_workdays 开放日（{month}）" in note, note
        assert note.startswith(f"日历 cn_workdays：{fire[:10]} 开放（"), note


def test_export_to_a_file_and_partial_notice(stored: Cli) -> None:
    cli = stored
    notice = cli.cwd / "2027.notice"
    notice.write_text("放假 2027-10-01 至 2027-10-07 国庆节\n")
    result = cli("calendar", "notice", "2027", str(notice), "--not-confirmed", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["version"] == 1
    out = cli.cwd / "workdays.txt"
    added = cli("calendar", "override", "add", "cn_workdays", "2027-02-06", "--open",
                "--kind", "makeup_workday", "-m", "春节调休", "--json")  # fmt: skip
    assert json.loads(added.stdout)["version"] == 1
    assert cli("calendar", "export", "cn_workdays", "-o", str(out)).exit_code == 0
    assert out.read_text() == "上班 2027-02-06 春节调休\n"
    unknown = cli("calendar", "export", "cn_workdays", "--format", "xml")
    assert unknown.exit_code != 0 and "unknown format 'xml'" in unknown.output
    # A partly entered year stays a warning: the notice's, which the calendar's own
    # make-up day does not make "some days entered, mark the year confirmed".
    shown = json.loads(cli("calendar", "show", "cn_workdays", "2027", "--json").stdout)
    assert shown["coverage"]["state"] == "estimated"
    assert shown["coverage"]["source"] == "notice"
    assert (
        cli("calendar", "set", "cn_workdays", "--base", "cn_workdays", "-d", "工作日").exit_code
        == 0
    )
    listed = json.loads(cli("calendar", "list", "--json").stdout)
    mine = next(c for c in listed if c["name"] == "cn_workdays")
    assert mine["description"] == "工作日" and mine["overrides"] == 1


def test_text_output_of_list_show_and_warnings(stored: Cli) -> None:
    listed = stored("calendar", "list")
    assert listed.exit_code == 0 and "cn_workdays" in listed.stdout
    zh = stored("--lang", "zh", "calendar", "list")
    assert "已确认" in zh.stdout
    shown = stored("calendar", "show", "cn_workdays", "2027")
    assert "warning calendar cn_workdays for 2027 not confirmed" in shown.stdout
    assert "2027-01-01 closed (New Year's Day), decided by holidays (not confirmed)" in (
        shown.stdout
    )
    assert "2027-01" in shown.stdout and "Mo Tu We Th Fr Sa Su" in shown.stdout
    assert json.loads(stored("calendar", "warnings", "--json").stdout) == []
    assert stored("calendar", "warnings").stdout.startswith("ok: every calendar in use")
    assert stored("calendar", "export", "cn_workdays").stdout == "date,status,kind,note\n"


def test_a_year_out_of_range_is_an_invalid_value(stored: Cli) -> None:
    """Years no source knows (1950-2199, as the API's) are refused by every command
    taking one, exit 2 naming the argument or option, not an unexpected ValueError."""
    cli = stored
    assert cli("calendar", "set", "sd-spot", "--base", "none").exit_code == 0
    notice = cli.cwd / "notice.txt"
    notice.write_text(whole(2027), encoding="utf-8")
    csv = cli.cwd / "spot.csv"
    csv.write_text("date,status\n2027-01-04,open\n", encoding="utf-8")
    for args, named in [
        (["calendar", "show", "cn_workdays", "99999"], "'[YEAR]'"),
        (["calendar", "confirm", "sd-spot", "0"], "'YEAR'"),
        (["calendar", "notice", "1900", str(notice)], "'YEAR'"),
        (["calendar", "import", "sd-spot", str(csv), "--confirm-year", "2200"], "'--confirm-year'"),
    ]:
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert f"Invalid value for {named}" in result.output, result.output
        assert "1950" in result.output or "2199" in result.output, result.output


def test_calendar_commands_name_their_store(stored: Cli) -> None:
    cli = stored
    label = f"sqlite:///{cli.db}"
    notice = cli.cwd / "notice.txt"
    notice.write_text(whole(2027), encoding="utf-8")
    for args in (
        ["calendar", "set", "sd-spot", "--base", "none"],
        ["calendar", "override", "add", "sd-spot", "2027-01-04", "--open"],
        ["calendar", "confirm", "sd-spot", "2027"],
        ["calendar", "notice", "2027", str(notice)],
        ["calendar", "show", "sd-spot", "2027"],
        ["calendar", "warnings"],
    ):
        result = cli(*args)
        assert result.exit_code in (0, 1), result.output
        assert result.stdout.splitlines()[-1] == f"store {label}", args


def test_a_notice_file_over_the_api_s_limit_is_refused_before_it_is_read(stored: Cli) -> None:
    """An audit: a 300 MB file was read whole (7.7 s, 635 MB) before being refused, and a
    40 MB file of comments was accepted. A notice file is held to the API's limit
    (80,000 characters); one far larger is refused from its size, unread."""
    notice = stored.cwd / "2027.txt"
    comments = "# 国务院办公厅关于2027年部分节假日安排的通知\n" * 3_200  # 83,217 characters
    notice.write_text(comments + "放假 2027-01-01 元旦\n", encoding="utf-8")
    long = stored("calendar", "notice", "2027", str(notice))
    assert long.exit_code == 2, long.output
    assert (
        "2027.txt: 83,217 characters, over the 80,000 a notice file (as through the API) may have"
        in long.output
    )
    huge = stored.cwd / "huge.txt"
    with huge.open("wb") as sparse:  # 300 MB on paper, nothing written
        sparse.truncate(300 * 1024 * 1024)
    started = time.monotonic()
    refused = stored("calendar", "notice", "2027", str(huge))
    assert refused.exit_code == 2, refused.output
    assert "huge.txt: 314,572,800 bytes, over the 80,000 characters a notice file" in refused.output
    assert time.monotonic() - started < 5
    data = json.loads(stored("calendar", "show", "cn_workdays", "2027", "--json").stdout)
    assert data["coverage"]["state"] == "estimated", "nothing was entered"


def test_a_notice_entered_again_must_be_whole_or_replace_on_purpose(stored: Cli) -> None:
    """An audit: a notice file of two lines replaced the whole year, so New Year,
    Qingming and Labour Day became confirmed workdays, and the command said it was
    entered."""
    notice = stored.cwd / "2027.txt"
    notice.write_text(
        "放假 2027-01-01 至 2027-01-03 元旦\n上班 2027-01-09 元旦调休\n"
        "放假 2027-02-05 至 2027-02-11 春节\n放假 2027-04-03 至 2027-04-05 清明节\n"
        "放假 2027-05-01 至 2027-05-05 劳动节\n放假 2027-06-09 端午节\n放假 2027-09-15 中秋节\n"
        "放假 2027-10-01 至 2027-10-07 国庆节\n"
    )
    assert stored("calendar", "notice", "2027", str(notice)).exit_code == 0
    correction = stored.cwd / "fix.txt"
    correction.write_text("上班 2027-02-20 春节调休（更正）\n放假 2027-02-05 至 2027-02-12 春节\n")
    refused = stored("calendar", "notice", "2027", str(correction))
    assert refused.exit_code == 1, refused.output
    assert (
        "the 2027 notice entered leaves out 21 day(s) the stored 2027 notice sets: "
        "2027-01-01 holiday (元旦), 2027-01-02 holiday (元旦)"
    ) in refused.output
    assert "schedkit calendar notice 2027 FILE --replace" in refused.output
    shown = json.loads(stored("calendar", "show", "cn_workdays", "2027", "--json").stdout)
    new_year = next(d for d in shown["days"] if d["date"] == "2027-01-01")
    assert not new_year["open"] and new_year["source"] == "notice", "nothing was entered"
    # The notice entered, to edit and enter again whole (it could be read only over the
    # API or in the console).
    shown_text = stored("calendar", "notice", "2027")
    assert shown_text.exit_code == 0, shown_text.output
    assert "放假 2027-04-03 至 2027-04-05 清明节" in shown_text.stdout
    assert "schedkit calendar notice 2027," in refused.output
    edited = stored.cwd / "edited.txt"
    edited.write_text(shown_text.stdout.replace("2027-02-11 春节", "2027-02-12 春节"))
    assert stored("calendar", "notice", "2027", str(edited)).exit_code == 0  # whole: no refusal
    # Replaced on purpose by a part of the notice: refused unless said partial too, and
    # then the holidays it leaves out keep the estimate's day off, not confirmed.
    replaced = stored("calendar", "notice", "2027", str(correction), "--replace")
    assert replaced.exit_code == 1, replaced.output
    assert "leaves open 6 statutory holiday(s)" in replaced.output
    replaced = stored("calendar", "notice", "2027", str(correction), "--replace", "--partial")
    assert replaced.exit_code == 0, replaced.output
    assert replaced.stdout.splitlines()[0].startswith(
        "entered the 2027 notice (not confirmed): 9 day(s) — 8 off, 1 worked"
    )
    shown = json.loads(stored("calendar", "show", "cn_workdays", "2027", "--json").stdout)
    new_year = next(d for d in shown["days"] if d["date"] == "2027-01-01")
    assert (new_year["open"], new_year["source"]) == (False, "holidays")


def test_the_notice_of_a_year_none_entered_is_said_missing(stored: Cli) -> None:
    result = stored("calendar", "notice", "2031")
    assert result.exit_code == 1 and "no notice of 2031 entered yet" in result.stderr
    as_json = json.loads(stored("--json", "calendar", "notice", "2031").stdout)
    assert (as_json["year"], as_json["days"], as_json["text"]) == (2031, 0, "")


def test_a_range_typed_without_a_space_is_read_and_the_days_entered_are_counted(
    stored: Cli,
) -> None:
    """An audit (the 2027 notice): ``放假 2027-02-05 至2027-02-13春节`` was entered as
    one day (note "至2027-02-13春节"), the Spring Festival weekdays open workdays
    "decided by notice" and every warning gone; the success line said no number."""
    notice = stored.cwd / "nospace.txt"
    notice.write_text(
        "放假 2027-01-01 至 2027-01-03 元旦\n放假 2027-02-05 至 二月十三日 春节\n"
        "上班 2027-01-30 春节调休\n"
    )
    refused = stored("calendar", "notice", "2027", str(notice))
    assert refused.exit_code == 2, refused.output
    assert "line 2: the end of the range after 2027-02-05 cannot be read in" in refused.output
    notice.write_text(
        "放假 2027-01-01 至 2027-01-03 元旦\n放假 2027-02-05 至2027-02-13春节\n"
        "上班 2027-01-30 春节调休\n" + REST_2027
    )
    result = stored("calendar", "notice", "2027", str(notice))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        "entered the 2027 notice (confirmed): 28 day(s) — 27 off, 1 worked, version 1"
    )
    shown = json.loads(stored("calendar", "show", "cn_workdays", "2027", "--json").stdout)
    days = {d["date"]: d for d in shown["days"]}
    assert (days["2027-02-08"]["open"], days["2027-02-08"]["note"]) == (False, "春节")
    assert stored("calendar", "notice", "2027").stdout.splitlines() == [
        "放假 2027-01-01 至 2027-01-03 元旦",
        "上班 2027-01-30 春节调休",
        "放假 2027-02-05 至 2027-02-13 春节",
        *REST_2027.splitlines(),
    ]
    as_json = json.loads(stored("calendar", "notice", "2027", str(notice), "--json").stdout)
    assert as_json | {"store": ""} == {
        "store": "",
        "year": 2027,
        "version": 2,
        "days": 28,
        "off": 27,
        "worked": 1,
        "confirmed": True,
    }
    zh = stored("--lang", "zh", "calendar", "notice", "2027", str(notice))
    assert zh.stdout.splitlines()[0] == (
        "已录入 2027 年通知（已确认）：28 天，放假 27 天，上班 1 天，版本 3"
    )


def test_a_correction_that_moves_a_day_is_told_to_enter_it_with_replace(stored: Cli) -> None:
    """An audit: the notice exported, ``上班 2027-02-20`` changed to 2027-02-21 and the
    whole text entered again was refused with the advice to enter the whole notice, what
    the user had done. And calendars.md said an empty text entered --not-confirmed
    withdraws the notice, which was refused unless --replace too."""
    notice = stored.cwd / "2027.txt"
    first = "放假 2027-01-01 元旦\n放假 2027-02-05 至 2027-02-13 春节\n上班 2027-02-20 春节调休\n"
    notice.write_text(first + REST_2027)
    assert stored("calendar", "notice", "2027", str(notice)).exit_code == 0
    notice.write_text(first.replace("2027-02-20", "2027-02-21") + REST_2027)
    refused = stored("calendar", "notice", "2027", str(notice))
    assert refused.exit_code == 1, refused.output
    message = " ".join(refused.output.split())
    assert (
        "leaves out 1 day(s) the stored 2027 notice sets: 2027-02-20 make-up workday "
        "(春节调休). If leaving them out is your correction (a day moved or taken off), "
        "enter the same text again with replace (schedkit calendar notice 2027 FILE "
        "--replace; API: replace: true)."
    ) in message
    replaced = stored("calendar", "notice", "2027", str(notice), "--replace")
    assert replaced.exit_code == 0, replaced.output
    shown = json.loads(stored("calendar", "show", "cn_workdays", "2027", "--json").stdout)
    days = {d["date"]: d for d in shown["days"]}
    assert days["2027-02-21"]["open"] and not days["2027-02-20"]["open"]

    empty = stored.cwd / "empty.txt"
    empty.write_text("# withdrawn\n")
    kept = stored("calendar", "notice", "2027", str(empty), "--not-confirmed")
    assert kept.exit_code == 1, kept.output
    message = " ".join(kept.output.split())
    assert "the 2027 notice entered sets no day: it would withdraw the 26 day(s)" in message
    assert "schedkit calendar notice 2027 FILE --not-confirmed --replace" in message
    withdrawn = stored("calendar", "notice", "2027", str(empty), "--not-confirmed", "--replace")
    assert withdrawn.exit_code == 0, withdrawn.output
    assert withdrawn.stdout.splitlines()[0] == "withdrew the 2027 notice, version 3"
    assert stored("calendar", "notice", "2027").exit_code == 1


def test_a_notice_in_part_is_refused_naming_the_festivals_unless_said_partial(
    stored: Cli,
) -> None:
    """An audit: a notice of 元旦, 春节 and 国庆 only was entered confirmed without a
    word, and 2027-04-05 (清明) became a workday "decided by notice"."""
    notice = stored.cwd / "part.txt"
    notice.write_text(
        "放假 2027-01-01 至 2027-01-03 元旦\n放假 2027-02-06 至 2027-02-12 春节\n"
        "上班 2027-02-14 春节调休\n放假 2027-10-01 至 2027-10-07 国庆节\n"
    )
    refused = stored("calendar", "notice", "2027", str(notice))
    assert refused.exit_code == 1, refused.output
    line = one_error_line(refused.stderr)
    assert (
        "the 2027 notice entered leaves open 5 statutory holiday(s) that the holidays "
        "package's estimate closes: 2027-02-05 (Chinese New Year's Eve, 农历除夕), "
        "2027-04-05 (Tomb-Sweeping Day, 清明节), 2027-05-01 (Labor Day, 劳动节), "
        "2027-05-02 (Labor Day, 劳动节), 2027-06-09 (Dragon Boat Festival, 端午节), "
        "2027-09-15 (Mid-Autumn Festival, 中秋节)."
    ) in line
    assert "schedkit calendar notice 2027 FILE --partial" in line
    zh = stored("--lang", "zh", "calendar", "notice", "2027", str(notice))
    assert zh.exit_code == 1, zh.output
    assert (
        "录入的 2027 年通知没有放假安排 5 个法定节日（holidays 包的推算中为放假日）："
        "2027-02-05（农历除夕）、2027-04-05（清明节）、2027-05-01（劳动节）、2027-05-02（劳动节）、"
    ) in one_error_line(zh.stderr)
    shown = json.loads(stored("calendar", "show", "cn_workdays", "2027", "--json").stdout)
    assert shown["coverage"] == {"year": 2027, "state": "estimated", "source": "holidays"}

    entered = stored("calendar", "notice", "2027", str(notice), "--partial")
    assert entered.exit_code == 0, entered.output
    assert entered.stdout.splitlines()[0] == (
        "entered the 2027 notice (not confirmed): 18 day(s) — 17 off, 1 worked, version 1"
    )
    shown = json.loads(stored("calendar", "show", "cn_workdays", "2027", "--json").stdout)
    assert shown["coverage"] == {"year": 2027, "state": "estimated", "source": "notice"}
    assert [w["title"] for w in shown["warnings"]] == [
        "calendar cn_workdays for 2027 not confirmed"
    ]
    days = {d["date"]: d for d in shown["days"]}
    assert (days["2027-04-05"]["open"], days["2027-04-05"]["source"]) == (False, "holidays")
    assert (days["2027-02-14"]["open"], days["2027-02-14"]["source"]) == (True, "notice")
