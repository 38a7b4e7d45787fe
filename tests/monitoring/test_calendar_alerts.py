"""The alert rule "calendar for 2027 not confirmed": sent once when the warning appears
(not again by the next checks or another node), gone once the year is entered, and sent
again if it comes back."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from schedkit import OffsetClock, task
from schedkit.monitor import CALENDAR_STATE_KEY
from tests.notices import whole

from .conftest import MakeMonitored, Receiver, alert_settings
from .test_monitor import hook, titles

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: A day whose warning horizon reaches 2027, which no package confirms.
DECEMBER = datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI)


@task("daily_report", description="power-trading daily report")
async def daily_report() -> None:
    return None


async def test_calendar_not_confirmed_alert(
    make_monitored: MakeMonitored, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="schedkit.monitor")
    clock = OffsetClock(DECEMBER - datetime.now(SHANGHAI))
    settings = alert_settings([hook(receiver)])
    s, mon = await make_monitored(daily_report, settings=settings, clock=clock)
    other, mon_other = await make_monitored(daily_report, settings=settings, clock=clock)
    for node in (s, other):  # each check reads the store (the default reuses it for 10 s)
        node.calendars.warnings_ttl = 0
    await s.add_task(
        "daily_report", {"trigger": "cron", "hour": 9, "minute": 0, "calendar": "cn_workdays"}
    )
    await receiver.wait("/alerts", 1)
    for _ in range(3):  # later checks, on both nodes, send nothing more
        await mon.check()
        await mon_other.check()
    await asyncio.sleep(0.3)
    assert titles(receiver) == ["[WARNING] calendar cn_workdays for 2027 not confirmed"]
    body = receiver.on("/alerts")[0].json()["message"]
    assert "Calendar: cn_workdays" in body and "Enter the State Council" in body
    # An audit: the log said "alert calendar_unconfirmed for task cn_workdays (run -)".
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("raised ")]
    assert logged == ["raised alert 'calendar_unconfirmed' for calendar cn_workdays (2027)"]

    notice = whole(2027, "放假 2027-01-01 至 2027-01-03 元旦\n")
    await other.calendars.enter_notice(2027, notice, confirmed=True)
    await mon.check()
    state = await s.get_state(CALENDAR_STATE_KEY)
    assert state is not None and state.value == {"sent": []}

    # Unconfirmed again (the operator replaces it by a part of it, said partial): a new
    # alert.
    await other.calendars.enter_notice(
        2027, "放假 2027-01-01 元旦\n", confirmed=True, partial=True, replace=True
    )
    await mon.check()
    await receiver.wait("/alerts", 2)
    assert titles(receiver)[1] == "[WARNING] calendar cn_workdays for 2027 not confirmed"


async def test_the_rule_can_be_turned_off(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    clock = OffsetClock(DECEMBER - datetime.now(SHANGHAI))
    settings = alert_settings([hook(receiver)], rules={"calendar": False})
    s, mon = await make_monitored(daily_report, settings=settings, clock=clock)
    await s.add_task("daily_report", {"trigger": "cron", "hour": 9, "calendar": "cn_workdays"})
    await mon.check()
    await asyncio.sleep(0.3)
    assert titles(receiver) == []
    assert [w.title("zh") for w in await s.calendars.warnings()] == [
        "日历 cn_workdays 的 2027 年数据未确认"
    ]
