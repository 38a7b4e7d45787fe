"""Property: the engine's fires equal a brute-force oracle's, near DST changes, both forms.

Hypothesis draws a schedule as structure (items per field), renders it as a crontab
string or as APScheduler-style cron fields, and computes its value sets and day
predicate directly from the structure (see ``oracle.py``, which shares no code with the
engine). Starts are drawn near the offset changes of zones with 1-hour, 30-minute and
midnight transitions, and every fire in the following day and a half must agree.

CI runs a fixed, derandomized set (profile ``ci``); a larger random run on demand:

    SCHEDKIT_HYPOTHESIS_PROFILE=thorough .venv/bin/pytest tests/unit/triggers/test_property.py
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st

from schedkit.errors import ValidationError
from schedkit.triggers import build_trigger

from .oracle import (
    OracleSpec,
    fires,
    is_last_of_its_weekday,
    last_weekday_of_month,
    month_length,
    nth_of_month,
    transitions,
)

settings.register_profile(
    "ci",
    max_examples=120,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = settings.get_profile(os.environ.get("SCHEDKIT_HYPOTHESIS_PROFILE", "ci"))

# Hypothesis favours the first entries (it shrinks towards them): the odd zones first.
ZONES = (
    "Australia/Lord_Howe",
    "America/Santiago",
    "America/Havana",
    "America/New_York",
    "Europe/London",
    "Asia/Shanghai",
    "UTC",
)
WINDOW = timedelta(hours=32)


@cache
def zone_transitions(name: str) -> tuple[datetime, ...]:
    tz = ZoneInfo(name)
    # Shanghai has not changed its clocks since 1991; its DST years are the interesting ones.
    years = range(1986, 1992) if name == "Asia/Shanghai" else range(2019, 2027)
    return tuple(transitions(tz, years))


def rarely(draw: st.DrawFn, percent: int) -> bool:
    """True ``percent`` % of the time; a window in the middle of the range, because
    Hypothesis draws the ends of an integer range far more often than the rest."""
    return 40 <= draw(st.integers(0, 99)) < 40 + percent


@st.composite
def starts(draw: st.DrawFn, name: str) -> datetime:
    """An instant near one of the zone's offset changes (anywhere in 2024 for UTC)."""
    changes = zone_transitions(name)
    if not changes or rarely(draw, 10):
        base = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=draw(st.integers(0, 365)))
    else:
        base = draw(st.sampled_from(changes))
        if rarely(draw, 20):
            return base  # exactly at the change: a gap's fixed times fire right here
    minutes = draw(st.one_of(st.integers(-28 * 60, 90), st.sampled_from([0, -1, 1, -30, 30])))
    seconds = draw(st.sampled_from([0, 0, 0, 1, 59, 30]))
    micro = draw(st.sampled_from([0, 0, 0, 1, 999_999]))
    return base + timedelta(minutes=minutes, seconds=seconds, microseconds=micro)


# -- one field as structure ------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """``*``, ``*/step``, ``a``, ``a-b``, ``a-b/step`` or ``a/step`` (to the field's end)."""

    kind: str  # "star" | "value" | "range" | "from"
    first: int = 0
    last: int = 0
    step: int | None = None

    def values(self, low: int, high: int) -> set[int]:
        step = self.step or 1
        if self.kind == "star":
            return set(range(low, high + 1, step))
        if self.kind == "value":
            return {self.first}
        if self.kind == "range":
            return set(range(self.first, self.last + 1, step))
        return set(range(self.first, high + 1, step))

    def text(self, name: object = str) -> str:
        show = name if callable(name) else str
        step = "" if self.step is None else f"/{self.step}"
        if self.kind == "star":
            return "*" + step
        if self.kind == "value":
            return show(self.first)
        if self.kind == "range":
            return f"{show(self.first)}-{show(self.last)}{step}"
        return f"{show(self.first)}{step}"


@st.composite
def items(draw: st.DrawFn, low: int, high: int, likely: list[int]) -> Item:
    value = st.one_of(st.sampled_from(likely), st.integers(low, high))
    kind = draw(st.sampled_from(["star", "star", "value", "value", "range", "from"]))
    step = draw(st.one_of(st.none(), st.integers(1, max(1, (high - low) // 2))))
    if kind == "star":
        return Item("star", step=step)
    if kind == "value":
        return Item("value", draw(value))
    a, b = sorted((draw(value), draw(value)))
    if kind == "range":
        return Item("range", a, b, step)
    return Item("from", a, step=draw(st.integers(1, max(1, high - low))))


def field(low: int, high: int, likely: list[int], size: int = 3) -> st.SearchStrategy[list[Item]]:
    return st.lists(items(low, high, likely), min_size=1, max_size=size)


def union(parts: list[Item], low: int, high: int) -> frozenset[int]:
    out: set[int] = set()
    for part in parts:
        out |= part.values(low, high)
    return frozenset(out)


SECOND_FIELDS = [
    [Item("value", 0)],
    [Item("value", 30)],
    [Item("value", 0), Item("value", 45)],
    [Item("star", step=20)],
    [Item("range", 15, 45, 15)],
]
DST_HOURS = [0, 1, 2, 3, 23, 22]
DST_MINUTES = [0, 30, 15, 45, 59, 1]


def near_hours(start: datetime, tz: ZoneInfo) -> list[int]:
    """Hours likely to meet a DST change: the usual ones and the wall hours around start."""
    around = [(start + timedelta(hours=h)).astimezone(tz).hour for h in (-1, 0, 1)]
    return DST_HOURS + around + around


# -- crontab strings -------------------------------------------------------------------

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
CRON_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


@st.composite
def crontabs(draw: st.DrawFn, start: datetime, tz: ZoneInfo) -> OracleSpec:
    month = start.astimezone(tz).month
    minute = draw(field(0, 59, DST_MINUTES))
    hour = draw(field(0, 23, near_hours(start, tz)))
    # Few seconds per minute: a per-second schedule would make a window of 100,000 fires.
    seconds_field = draw(st.sampled_from([None, None, None, *SECOND_FIELDS]))
    dom = draw(st.one_of(st.just([Item("star")]), field(1, 31, [1, 7, 15, 28, 31])))
    dom_special = draw(st.sampled_from([None, None, None, "L", "LW"]))
    months = draw(st.one_of(st.just([Item("star")]), field(1, 12, [month], size=2)))
    dow = draw(st.one_of(st.just([Item("star")]), field(0, 7, [0, 6, 7, 1], size=2)))
    positions = draw(
        st.lists(st.tuples(st.integers(0, 7), st.sampled_from([1, 2, 5, -1])), max_size=1)
    )
    use_names = draw(st.booleans())
    dom_text = ",".join([i.text() for i in dom] + ([dom_special] if dom_special else []))
    # Names only below 7: "FRI-SUN" runs backwards (SUN is 0), "FRI-7" is Friday-Sunday.
    dow_texts = [i.text(lambda v: CRON_DAYS[v] if use_names and v < 7 else str(v)) for i in dow]
    dow_texts += [f"{d}L" if n == -1 else f"{d}#{n}" for d, n in positions]
    month_text = ",".join(i.text(lambda v: MONTHS[v - 1] if use_names else str(v)) for i in months)
    texts = [",".join(i.text() for i in minute), ",".join(i.text() for i in hour), dom_text]
    texts += [month_text, ",".join(dow_texts)]
    if seconds_field is not None:
        texts.insert(0, ",".join(i.text() for i in seconds_field))

    dom_values = union(dom, 1, 31)
    dow_values = {v % 7 for v in union(dow, 0, 7)}
    month_values = union(months, 1, 12)
    either = not (dom_text.startswith("*") or texts[-1].startswith("*"))

    def day(d: date) -> bool:
        if d.month not in month_values:
            return False
        by_dom = (
            d.day in dom_values
            or (dom_special == "L" and d.day == month_length(d))
            or (dom_special == "LW" and d.day == last_weekday_of_month(d))
        )
        sunday_based = d.isoweekday() % 7
        by_dow = sunday_based in dow_values or any(
            sunday_based == weekday % 7
            and (is_last_of_its_weekday(d) if n == -1 else nth_of_month(d) == n)
            for weekday, n in positions
        )
        return (by_dom or by_dow) if either else (by_dom and by_dow)

    return OracleSpec(
        data={"trigger": "cron", "expression": " ".join(texts)},
        seconds=frozenset({0}) if seconds_field is None else union(seconds_field, 0, 59),
        minutes=union(minute, 0, 59),
        hours=union(hour, 0, 23),
        day=day,
        wildcard=texts[-5].startswith("*") or texts[-4].startswith("*"),
    )


# -- APScheduler-style cron fields -----------------------------------------------------

APS_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 5: "5th", -1: "last"}
ORDER = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
MINIMUM = {"month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0}


def aps_items(parts: list[Item], low: int, high: int) -> list[Item]:
    """APScheduler refuses a step larger than its range: keep only steps it accepts."""
    kept = []
    for part in parts:
        span = {"star": high - low, "range": part.last - part.first, "from": high - part.first}
        if part.step is not None and part.kind != "value" and part.step > span[part.kind]:
            part = (
                Item("value", part.first)
                if part.kind == "from"
                else Item(part.kind, part.first, part.last)
            )
        kept.append(part)
    return kept


@st.composite
def cron_fields(draw: st.DrawFn, start: datetime, tz: ZoneInfo) -> OracleSpec:
    local = start.astimezone(tz)
    iso_week = local.isocalendar()[1]
    bounds = {
        "year": (1970, 9999),
        "month": (1, 12),
        "day": (1, 31),
        "week": (1, 53),
        "day_of_week": (0, 6),
        "hour": (0, 23),
        "minute": (0, 59),
        "second": (0, 59),
    }
    likely = {
        "year": [local.year],
        "month": [local.month],
        "day": [local.day, 1, 31],
        "week": [iso_week, 1, 52, 53],
        "day_of_week": [local.weekday(), 6, 0],
        "hour": near_hours(start, tz),
        "minute": DST_MINUTES,
        "second": [0, 30],
    }
    chosen = draw(
        st.lists(
            st.sampled_from(["month", "day", "week", "day_of_week", "hour", "minute", "second"]),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    if rarely(draw, 10):
        chosen.append("year")
    data: dict[str, object] = {"trigger": "cron"}
    values: dict[str, frozenset[int]] = {}
    texts: dict[str, str] = {}
    day_positions: list[tuple[int, int]] = []
    last_day = False
    for name in ORDER:
        if name not in chosen:
            continue
        low, high = bounds[name]
        strategy = (
            st.sampled_from(SECOND_FIELDS)
            if name == "second"
            else field(low, high, likely[name], size=2)
        )
        parts = aps_items(draw(strategy), low, high)
        show = {"month": lambda v: MONTHS[v - 1].lower(), "day_of_week": lambda v: APS_DAYS[v]}
        names = draw(st.booleans()) and name in show
        text = ",".join(p.text(show[name] if names else str) for p in parts)
        if name == "day":
            extras = draw(
                st.lists(
                    st.one_of(
                        st.just("last"),
                        st.tuples(st.integers(0, 6), st.sampled_from([1, 2, 4, 5, -1])),
                    ),
                    max_size=1,
                )
            )
            for extra in extras:
                if extra == "last":
                    last_day = True
                    text += ",last"
                else:
                    weekday, n = extra
                    day_positions.append((weekday, n))
                    text += f",{ORDINALS[n]} {APS_DAYS[weekday]}"
        texts[name] = text
        values[name] = union(parts, low, high)
        data[name] = int(text) if text.isdigit() and draw(st.booleans()) else text
    # APScheduler's defaults: fields below the smallest one given are at their minimum.
    smallest = max(ORDER.index(name) for name in chosen)
    for name in ORDER:
        if name not in texts:
            default = ORDER.index(name) > smallest and name in MINIMUM
            texts[name] = str(MINIMUM[name]) if default else "*"
            values[name] = (
                frozenset({MINIMUM[name]}) if default else union([Item("star")], *bounds[name])
            )

    def day(d: date) -> bool:
        by_day = (
            d.day in values["day"]
            or (last_day and d.day == month_length(d))
            or any(
                d.weekday() == weekday
                and (is_last_of_its_weekday(d) if n == -1 else nth_of_month(d) == n)
                for weekday, n in day_positions
            )
        )
        return (
            by_day
            and d.year in values["year"]
            and d.month in values["month"]
            and d.isocalendar()[1] in values["week"]
            and d.weekday() in values["day_of_week"]
        )

    return OracleSpec(
        data=data,
        seconds=values["second"],
        minutes=values["minute"],
        hours=values["hour"],
        day=day,
        wildcard=texts["hour"].startswith("*") or texts["minute"].startswith("*"),
    )


# -- the property ----------------------------------------------------------------------


def engine_fires(spec: OracleSpec, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """The engine's fires in ``[start, end]``, each found from the previous one; and each
    must also be found when asked for the first fire at or after that very instant."""
    try:
        trigger = build_trigger({**spec.data, "timezone": zone})
    except ValidationError as exc:
        assume("never fire" not in exc.message)
        raise
    out = []
    fire = trigger.next_fire_time(None, start)
    while fire is not None and fire <= end:
        out.append(fire)
        fire = trigger.next_fire_time(fire, start)
    for fire in out[:5] + out[-5:] + [f for f in out if f.second == 0 and f.minute % 30 == 0]:
        assert trigger.next_fire_time(None, fire) == fire, f"asked at {fire}"
    return out


def check(spec: OracleSpec, zone: str, start: datetime) -> None:
    tz = ZoneInfo(zone)
    note(f"{spec.data} in {zone} from {start.astimezone(tz).isoformat()}")
    expected = fires(spec, tz, start, start + WINDOW)
    got = engine_fires(spec, zone, start, start + WINDOW)
    record_events(expected, tz, start)
    assert [f.astimezone(tz).isoformat() for f in got] == [
        f.astimezone(tz).isoformat() for f in expected
    ]


def record_events(expected: list[datetime], tz: ZoneInfo, start: datetime) -> None:
    """Count what the examples exercised (pytest --hypothesis-show-statistics)."""
    span = [start - timedelta(hours=2) + (WINDOW + timedelta(hours=2)) * k / 16 for k in range(17)]
    changes = len({moment.astimezone(tz).utcoffset() for moment in span}) > 1
    event("an offset change near the window" if changes else "no offset change near the window")
    event(f"fires in window: {'0' if not expected else '1-9' if len(expected) < 10 else '10+'}")
    for fire in expected:
        local = fire.astimezone(tz)
        if local.utcoffset() != (fire - timedelta(seconds=1)).astimezone(tz).utcoffset():
            event("a fire at a gap's end or a repeat's start")
        if (
            local.fold
            or (fire + timedelta(hours=1)).astimezone(tz).replace(fold=1).utcoffset()
            != (fire + timedelta(hours=1)).astimezone(tz).utcoffset()
        ):
            event("a fire in a repeated hour")
    if expected and expected[0] == start:
        event("first fire exactly at start")


@st.composite
def crontab_cases(draw: st.DrawFn) -> tuple[OracleSpec, str, datetime]:
    zone = draw(st.sampled_from(ZONES))
    start = draw(starts(zone))
    return draw(crontabs(start, ZoneInfo(zone))), zone, start


@st.composite
def cron_field_cases(draw: st.DrawFn) -> tuple[OracleSpec, str, datetime]:
    zone = draw(st.sampled_from(ZONES))
    start = draw(starts(zone))
    return draw(cron_fields(start, ZoneInfo(zone))), zone, start


@pytest.mark.timeout(600)
@settings(PROFILE)
@given(crontab_cases())
def test_crontab_fires_match_the_oracle(case: tuple[OracleSpec, str, datetime]) -> None:
    check(*case)


@pytest.mark.timeout(600)
@settings(PROFILE)
@given(cron_field_cases())
def test_cron_field_fires_match_the_oracle(case: tuple[OracleSpec, str, datetime]) -> None:
    check(*case)
