"""``schedkit next`` under a list shorter than asked: why the search stopped, how far it
looked, and the calendar named only when it closed the trigger's days (an audit: "the
calendar excludes nearly all" was printed for a schedule without a calendar too)."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from tests.cli.conftest import Cli
from tests.search_clocks import step_the_search_clock

SUNDAYS_ON_WEEKDAYS = json.dumps(
    {"trigger": "cron", "hour": 9, "minute": 0, "day_of_week": "sun", "calendar": "weekdays"}
)


@pytest.fixture
def slow_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """The search's clock moves a second per reading: ``next``'s 5 s budget runs out
    after about four nominal fires, whatever the machine."""
    step_the_search_clock(monkeypatch)


def _note(stdout: str) -> str:
    """The last line in parentheses, with the lines the terminal's width wrapped it to."""
    lines = stdout.strip().splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith(("(", "（")))
    return " ".join(line.strip() for line in lines[start:])


@pytest.mark.usefixtures("slow_search")
def test_a_search_out_of_time_without_a_calendar_does_not_blame_one(cli: Cli) -> None:
    result = cli("next", "0 9 * * *", "-n", "10")
    assert result.exit_code == 0, result.output
    note = _note(result.stdout)
    assert re.fullmatch(
        r"\(\d of 10 fires found: the search stopped after 5 s, having looked up to "
        r"\d{4}-\d{2}-\d{2}; later fires were not searched\)",
        note,
    ), note
    assert "calendar" not in result.stdout
    zh = _note(cli("--lang", "zh", "next", "0 9 * * *", "-n", "10").stdout)
    assert re.fullmatch(
        r"（找到 \d/10 次触发：搜索在 5 秒后停止，已查到 \d{4}-\d{2}-\d{2}；"
        r"之后的触发未再查找）",
        zh,
    ), zh


@pytest.mark.usefixtures("slow_search")
def test_a_calendar_closing_the_trigger_s_days_is_named(cli: Cli) -> None:
    """Sundays on a calendar open Monday to Friday: it closes every one of them, which is
    what the note says (not "nearly all"), with the days the search looked at."""
    result = cli("next", SUNDAYS_ON_WEEKDAYS, "-n", "2")
    assert result.exit_code == 0, result.output
    note = _note(result.stdout)
    found = re.fullmatch(
        r"\(no further fire found: the search stopped after 5 s, having looked up to "
        r"(\S+); calendar weekdays is closed on every day the trigger fires on from "
        r"(\S+) to (\S+)\)",
        note,
    )
    assert found is not None, note
    until, since, to = (date.fromisoformat(d) for d in found.groups())
    assert until == to and since.weekday() == to.weekday() == 6 and since < to
    zh = _note(cli("--lang", "zh", "next", SUNDAYS_ON_WEEKDAYS, "-n", "2").stdout)
    assert re.fullmatch(
        r"（未找到更多触发：搜索在 5 秒后停止，已查到 \S+；日历 weekdays 在 \S+ 至 \S+ 期间，"
        r"触发器的每个触发日都不开放）",
        zh,
    ), zh
    data = json.loads(cli("next", SUNDAYS_ON_WEEKDAYS, "-n", "2", "--json").stdout)
    assert (data["complete"], data["stopped"]) == (False, "budget")
    assert date.fromisoformat(data["calendar_closed_from"]).weekday() == 6


def test_a_calendar_without_the_nth_day_ends_the_search(cli: Cli) -> None:
    spec = json.dumps({"trigger": "cron", "hour": 9, "calendar": {"name": "weekdays", "nth": 31}})
    note = _note(cli("next", spec, "-n", "2").stdout)
    assert re.fullmatch(
        r"\(no further fire found: the search stopped at \S+, after years in which the "
        r"calendar allowed none of its fires; calendar weekdays is closed on every day the "
        r"trigger fires on from \S+ to \S+\)",
        note,
    ), note


def test_a_series_shorter_than_asked_says_there_are_no_more(cli: Cli) -> None:
    spec = json.dumps({"trigger": "date", "run_date": "2999-01-01T09:00:00+08:00"})
    result = cli("next", spec, "-n", "3")
    assert result.exit_code == 0, result.output
    assert _note(result.stdout) == "(no more fires)"
    assert _note(cli("--lang", "zh", "next", spec, "-n", "3").stdout) == "（没有更多触发）"


def test_years_not_confirmed_are_warned_once_per_run_of_years(cli: Cli) -> None:
    """A preview reaching centuries ahead (29 February on a Monday) printed one warning
    per year, 525 of them (an audit); consecutive years in the same state are one line."""
    leap_mondays = json.dumps(
        {
            "trigger": "cron",
            "month": 2,
            "day": 29,
            "day_of_week": "mon",
            "hour": 9,
            "calendar": "cn_workdays",
        }
    )
    result = cli("next", leap_mondays, "-n", "20")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning ")]
    assert len(warnings) == 2, result.stdout
    assert "calendar cn_workdays: 2044 is not confirmed" in warnings[0]
    assert "no source covers 2101" in warnings[1]
    assert "The same holds for each year to 2568 (468 years)." in result.stdout.replace("\n", " ")
    listed = json.loads(cli("--json", "next", leap_mondays, "-n", "20").stdout)
    assert len(listed["calendar_warnings"]) == 2568 - 2044 + 1  # --json keeps each year
