"""Schedules in words, English and Chinese."""

from __future__ import annotations

from typing import Any

import pytest

from schedkit.triggers import ScheduleSpec, build_trigger


@pytest.mark.parametrize(
    ("spec", "english", "chinese"),
    [
        (
            {"trigger": "cron", "hour": 2, "minute": 0},
            "every day at 02:00 (Asia/Shanghai)",
            "每天 02:00（Asia/Shanghai）",
        ),
        (
            "0 9 * * 1-5",
            "at 09:00 on Monday–Friday (Asia/Shanghai)",
            "每周一至周五 09:00（Asia/Shanghai）",
        ),
        (
            {"trigger": "cron", "day_of_week": "mon-fri", "hour": 9},
            "at 09:00 on Monday–Friday (Asia/Shanghai)",
            "每周一至周五 09:00（Asia/Shanghai）",
        ),
        (
            "0 9 * * 1,3,5",
            "at 09:00 on Monday, Wednesday and Friday (Asia/Shanghai)",
            "每周一、周三、周五 09:00（Asia/Shanghai）",
        ),
        (
            "0 10 * * 0,6",
            "at 10:00 on Saturday and Sunday (Asia/Shanghai)",
            "每周六、周日 10:00（Asia/Shanghai）",
        ),
        (
            "0 9,18 * * *",
            "every day at 09:00 and 18:00 (Asia/Shanghai)",
            "每天 09:00、18:00（Asia/Shanghai）",
        ),
        (
            "15 30 2 * * *",
            "every day at 02:30:15 (Asia/Shanghai)",
            "每天 02:30:15（Asia/Shanghai）",
        ),
        (
            "0 9 1,15 * *",
            "at 09:00 on days 1 and 15 of every month (Asia/Shanghai)",
            "每月 1、15 日 09:00（Asia/Shanghai）",
        ),
        (
            "@yearly",
            "at 00:00 on January 1 every year (Asia/Shanghai)",
            "每年 1 月 1 日 00:00（Asia/Shanghai）",
        ),
        ("*/5 * * * *", "every 5 minutes (Asia/Shanghai)", "每 5 分钟（Asia/Shanghai）"),
        ("* * * * *", "every minute (Asia/Shanghai)", "每分钟（Asia/Shanghai）"),
        ("*/10 * * * * *", "every 10 seconds (Asia/Shanghai)", "每 10 秒（Asia/Shanghai）"),
        ("@hourly", "every hour (Asia/Shanghai)", "每小时（Asia/Shanghai）"),
        (
            "30 * * * *",
            "every hour at minute 30 (Asia/Shanghai)",
            "每小时第 30 分（Asia/Shanghai）",
        ),
        ("0 */2 * * *", "every 2 hours (Asia/Shanghai)", "每 2 小时（Asia/Shanghai）"),
        (
            "*/5 9-17 * * 1-5",
            "every 5 minutes from 09:00 to 17:55 on Monday–Friday (Asia/Shanghai)",
            "每周一至周五，09:00 至 17:55 每 5 分钟（Asia/Shanghai）",
        ),
        ({"trigger": "interval", "minutes": 5}, "every 5 minutes", "每 5 分钟"),
        (
            {"trigger": "interval", "hours": 1, "minutes": 30},
            "every 1 hour 30 minutes",
            "每 1 小时 30 分钟",
        ),
        ({"trigger": "interval", "days": 1}, "every day", "每天"),
        # Long and fractional amounts as numbers are written (``:g`` said "3e+06 days").
        ({"trigger": "interval", "days": 3_000_000}, "every 3,000,000 days", "每 3,000,000 天"),
        ({"trigger": "interval", "seconds": 1.5}, "every 1.5 seconds", "每 1.5 秒"),
        (
            {"trigger": "interval", "seconds": 90, "start_date": "2025-10-01 08:00"},
            "every 90 seconds (Asia/Shanghai), from 2025-10-01 08:00",
            "每 90 秒（Asia/Shanghai），自 2025-10-01 08:00 起",
        ),
        (
            {"trigger": "date", "run_date": "2025-10-01T01:00:00Z"},
            "once at 2025-10-01 09:00 (Asia/Shanghai)",
            "2025-10-01 09:00 执行一次（Asia/Shanghai）",
        ),
        (
            {"trigger": "cron", "hour": 9, "calendar": "cn_workdays", "jitter": 30},
            "every day at 09:00 (Asia/Shanghai), on Chinese working days only, jitter up to 30 s",
            "每天 09:00（Asia/Shanghai），仅中国工作日（含调休上班日），随机延迟最多 30 秒",
        ),
        (
            {"trigger": "cron", "hour": 9, "calendar": "cn_skip_holidays", "timezone": "UTC"},
            "every day at 09:00 (UTC), skipping Chinese public holidays",
            "每天 09:00（UTC），跳过中国法定节假日",
        ),
    ],
)
def test_common_shapes(spec: Any, english: str, chinese: str) -> None:
    trigger = build_trigger(ScheduleSpec.parse(spec).trigger)
    assert trigger.describe() == english
    assert trigger.describe("en") == english
    assert trigger.describe("zh") == chinese
    assert trigger.describe("zh-CN") == chinese


@pytest.mark.parametrize(
    ("spec", "english", "chinese"),
    [
        (
            "15 10 * * MON#2",
            "cron '15 10 * * MON#2' (Asia/Shanghai)",
            "cron 表达式 '15 10 * * MON#2'（Asia/Shanghai）",
        ),
        # Every 7 minutes restarts at each hour (…, 56, 0), so no "every 7 minutes".
        (
            "*/7 * * * *",
            "cron '*/7 * * * *' (Asia/Shanghai)",
            "cron 表达式 '*/7 * * * *'（Asia/Shanghai）",
        ),
        # Crontab ORs day-of-month and day-of-week when both are set.
        (
            "0 9 1 * 1",
            "cron '0 9 1 * 1' (Asia/Shanghai)",
            "cron 表达式 '0 9 1 * 1'（Asia/Shanghai）",
        ),
        (
            {"trigger": "cron", "day": "last fri", "hour": 9},
            "cron day=last fri, hour=9 (Asia/Shanghai)",
            "cron 字段 day=last fri, hour=9（Asia/Shanghai）",
        ),
        (
            {"trigger": "cron", "week": "*/2", "hour": 9},
            "cron week=*/2, hour=9 (Asia/Shanghai)",
            "cron 字段 week=*/2, hour=9（Asia/Shanghai）",
        ),
    ],
)
def test_other_shapes_fall_back_to_the_raw_schedule(spec: Any, english: str, chinese: str) -> None:
    trigger = build_trigger(ScheduleSpec.parse(spec).trigger)
    assert trigger.describe("en") == english
    assert trigger.describe("zh") == chinese
