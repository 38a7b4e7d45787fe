"""Alert messages in Chinese or English, as plain text or Markdown.

A message carries what an operator needs to act without opening anything: task name and
description, schedule, run id, scheduled / actual times in the configured time zone,
attempt, status, error type and message (redacted: no secrets), and a link to the run in
the console when a base URL is configured. Every value but the link is written for the
channel's destination (:func:`schedkit.alerts.markdown.write`): shown as written, with no
control character, markup or mention coming from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from schedkit.alerts.config import AlertKind
from schedkit.alerts.markdown import PLAIN, Destination, write
from schedkit.alerts.rules import Alert, Severity
from schedkit.models import Run, RunStatus
from schedkit.redaction import redact
from schedkit.waiting import no_labels_reason, no_task_reason
from schedkit.workflows.plan import WORKFLOW_KEY, parse_step_key

Language = Literal["zh", "en"]
BodyFormat = Literal["text", "markdown"]

#: Longest error message shown in an alert.
ERROR_LIMIT = 500


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageContext:
    """What rendering needs besides the alert."""

    language: Language = "zh"
    timezone: str = "Asia/Shanghai"
    base_url: str | None = None
    link_template: str = "{base_url}/runs/{run_id}"
    task_description: str | None = None
    #: The schedule in words (``Trigger.describe``), or None for manual runs.
    schedule: str | None = None
    #: Secret values to mask wherever they appear.
    secrets: Sequence[str] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Message:
    title: str
    body: str
    kind: AlertKind
    severity: Severity
    format: BodyFormat
    #: Short values for template channels (SMS), keyed by the names in
    #: :data:`~schedkit.alerts.config.TEMPLATE_FIELDS`; may be empty (then such a channel
    #: falls back to the title).
    fields: dict[str, str] = field(default_factory=dict)
    #: A reminder of an open condition: sent only from the throttle's budget left after
    #: first alerts, and folded into a summary first (see :mod:`schedkit.alerts.throttle`).
    reminder: bool = False
    #: With a body read as Markdown (a Markdown body, or a text body where the destination
    #: renders it as Markdown): the title with its task or calendar name escaped, for a
    #: channel that writes the title into the body (DingTalk's heading, a title joined to
    #: the body); ``title`` stays plain for subjects and card headers.
    markdown_title: str | None = None


_TITLES: dict[Language, dict[AlertKind, str]] = {
    "en": {
        AlertKind.FAILED: "Task failed: {task}",
        AlertKind.CONSECUTIVE_FAILURES: "Task failed {count} times in a row: {task}",
        AlertKind.TOO_LONG: "Task running too long: {task}",
        AlertKind.MISSED: "Fire missed: {task}",
        AlertKind.LATE: "Run started late: {task}",
        AlertKind.RECOVERED: "Task recovered: {task}",
        AlertKind.CALENDAR: "Calendar not confirmed: {task}",
    },
    "zh": {
        AlertKind.FAILED: "任务执行失败：{task}",
        AlertKind.CONSECUTIVE_FAILURES: "任务连续失败 {count} 次：{task}",
        AlertKind.TOO_LONG: "任务运行时间过长：{task}",
        AlertKind.MISSED: "任务错过执行：{task}",
        AlertKind.LATE: "任务延迟启动：{task}",
        AlertKind.RECOVERED: "任务已恢复：{task}",
        AlertKind.CALENDAR: "日历数据未确认：{task}",
    },
}

#: The kind in a few words, for SMS template parameters.
_KIND_SHORT: dict[Language, dict[AlertKind, str]] = {
    "en": {
        AlertKind.FAILED: "failed",
        AlertKind.CONSECUTIVE_FAILURES: "failed repeatedly",
        AlertKind.TOO_LONG: "running too long",
        AlertKind.MISSED: "fire missed",
        AlertKind.LATE: "started late",
        AlertKind.RECOVERED: "recovered",
        AlertKind.CALENDAR: "calendar not confirmed",
    },
    "zh": {
        AlertKind.FAILED: "执行失败",
        AlertKind.CONSECUTIVE_FAILURES: "连续失败",
        AlertKind.TOO_LONG: "运行超时",
        AlertKind.MISSED: "错过执行",
        AlertKind.LATE: "延迟启动",
        AlertKind.RECOVERED: "已恢复",
        AlertKind.CALENDAR: "日历未确认",
    },
}

_SEVERITY_TAG: dict[Language, dict[Severity, str]] = {
    "en": {
        Severity.INFO: "OK",
        Severity.WARNING: "WARNING",
        Severity.ERROR: "ERROR",
        Severity.CRITICAL: "CRITICAL",
    },
    "zh": {
        Severity.INFO: "恢复",
        Severity.WARNING: "警告",
        Severity.ERROR: "错误",
        Severity.CRITICAL: "严重",
    },
}

_LABELS: dict[Language, dict[str, str]] = {
    "en": {
        "task": "Task",
        "description": "Description",
        "schedule": "Schedule",
        "manual": "manual run",
        "run": "Run ID",
        "scheduled": "Scheduled for",
        "started": "Started",
        "finished": "Finished",
        "duration": "Duration",
        "running_for": "Running for",
        "waited": "Waiting for",
        "attempt": "Attempt",
        "status": "Status",
        "error": "Error",
        "reason": "Reason",
        "streak": "Failures in a row",
        "missed_count": "Fires missed",
        "late_count": "Runs waiting",
        "since": "Since",
        "threshold": "Threshold",
        "last_error": "Last error",
        "node": "Node",
        "sent": "Sent at",
        "link": "Details",
        "reminder": "Reminder",
        "still_running": "still running",
        "not_started": "not started yet",
        "calendar": "Calendar",
        "workflow": "Workflow",
        "step": "step",
        "workflow_run": "Workflow run",
    },
    "zh": {
        "task": "任务",
        "description": "描述",
        "schedule": "调度",
        "manual": "手动触发",
        "run": "运行 ID",
        "scheduled": "计划时间",
        "started": "开始时间",
        "finished": "结束时间",
        "duration": "耗时",
        "running_for": "已运行",
        "waited": "已等待",
        "attempt": "尝试次数",
        "status": "状态",
        "error": "错误",
        "reason": "原因",
        "streak": "连续失败次数",
        "missed_count": "错过次数",
        "late_count": "等待中的运行",
        "since": "开始于",
        "threshold": "阈值",
        "last_error": "上次错误",
        "node": "节点",
        "sent": "发送时间",
        "link": "详情",
        "reminder": "提醒",
        "still_running": "仍在运行",
        "not_started": "尚未开始",
        "calendar": "日历",
        "workflow": "工作流",
        "step": "步骤",
        "workflow_run": "工作流运行",
    },
}

_STATUS: dict[Language, dict[RunStatus, str]] = {
    "en": {s: s.value for s in RunStatus},
    "zh": {
        RunStatus.PENDING: "等待中",
        RunStatus.RUNNING: "运行中",
        RunStatus.SUCCESS: "成功",
        RunStatus.FAILED: "失败",
        RunStatus.SKIPPED: "已跳过",
        RunStatus.TIMEOUT: "超时",
        RunStatus.CANCELLED: "已取消",
        RunStatus.LOST: "丢失（节点失联）",
        RunStatus.MISSED: "已错过",
    },
}


def render(
    alert: Alert,
    ctx: MessageContext,
    fmt: BodyFormat = "text",
    destination: Destination = PLAIN,
) -> Message:
    """Title and body of ``alert`` in ``ctx.language`` and ``fmt``; every value but the
    console link is written as ``destination`` shows it literally (see
    :mod:`schedkit.alerts.markdown`): Markdown-escaped in a Markdown body, and in a text
    body that the destination renders as Markdown."""
    lang: Language = ctx.language
    labels = _LABELS[lang]
    as_markdown, data, plain = _writers(fmt, destination)
    title = _title(alert, lang, plain)
    rows = [
        (label, value if label == labels["link"] else data(value))
        for label, value in _rows(alert, ctx)
    ]
    return Message(
        title=title,
        body=_layout(rows, fmt, lang),
        kind=alert.kind,
        severity=alert.severity,
        format=fmt,
        fields={name: plain(value) for name, value in template_fields(alert, ctx, title).items()},
        reminder=alert.reminder,
        markdown_title=_title(alert, lang, data) if as_markdown else None,
    )


def _writers(
    fmt: BodyFormat, destination: Destination
) -> tuple[bool, Callable[[str], str], Callable[[str], str]]:
    """Whether ``destination`` reads a body of ``fmt`` as Markdown, and how a value from
    outside is written there: as data (escaped where read as Markdown) and as plain
    text (titles, template fields)."""
    as_markdown = fmt == "markdown" or destination.text_is_markdown

    def data(text: str) -> str:
        return write(text, destination, markdown=as_markdown)

    def plain(text: str) -> str:
        return write(text, destination, markdown=False)

    return as_markdown, data, plain


def _layout(rows: Sequence[tuple[str, str]], fmt: BodyFormat, lang: Language) -> str:
    if fmt == "markdown":
        return "\n".join(f"- **{label}**{_sep(lang)}{value}" for label, value in rows)
    return "\n".join(f"{label}{_sep(lang)}{value}" for label, value in rows)


#: A test message's words. The note names "Task" / "任务": a DingTalk robot with the
#: "keyword" security setting refuses messages without its keyword, and docs/monitoring.md
#: tells to use one of these, which every alert contains.
_TEST: dict[Language, dict[str, str]] = {
    "en": {
        "tag": "TEST",
        "kind": "test",
        "title": "schedkit test alert from node {node} at {time}",
        "gist": "test alert from node {node}",
        "note": "Task alerts of this scheduler reach this channel like this message. "
        "It is a test sent on request: no task failed.",
    },
    "zh": {
        "tag": "测试",
        "kind": "测试",
        "title": "schedkit 测试告警：来自节点 {node}，时间 {time}",
        "gist": "来自节点 {node} 的测试告警",
        "note": "本调度器的任务告警会像这条消息一样发送到此通道。"
        "这是按请求发送的测试消息，没有任务失败。",
    },
}


def render_test(
    node: str,
    at: datetime,
    ctx: MessageContext,
    fmt: BodyFormat = "text",
    destination: Destination = PLAIN,
) -> Message:
    """The test message of ``POST /alerts/test`` for a channel of format ``fmt`` reaching
    ``destination``, sent by ``node`` at ``at`` (shown in ``ctx.timezone``); its values
    (the node's id) are written as in any alert."""
    lang: Language = ctx.language
    words = _TEST[lang]
    labels = _LABELS[lang]
    as_markdown, data, plain = _writers(fmt, destination)
    time = format_time(at, ctx.timezone)

    def title(written: Callable[[str], str]) -> str:
        said = words["title"].format(node=written(node), time=written(time))
        return _tagged(words["tag"], said, lang)

    plain_title = title(plain)
    rows = [(labels["node"], data(node)), (labels["sent"], data(time))]
    local = at.astimezone(ZoneInfo(ctx.timezone))
    fields = {
        "task": "schedkit",
        "kind": words["kind"],
        "severity": words["tag"],
        "run_id": "",
        "run": "",
        "message": words["gist"].format(node=plain(node)),
        "count": "0",
        "time": f"{local:%m-%d %H:%M}",
        "title": plain_title,
    }
    return Message(
        title=plain_title,
        body=f"{words['note']}\n\n{_layout(rows, fmt, lang)}",
        kind=AlertKind.TEST,
        severity=Severity.INFO,
        format=fmt,
        fields=fields,
        markdown_title=title(data) if as_markdown else None,
    )


def _title(alert: Alert, lang: Language, data: Callable[[str], str]) -> str:
    """The title, its task or calendar name written through ``data``."""
    warning = alert.calendar_warning
    if warning is not None:  # "calendar cn_workdays for 2027 not confirmed"
        title = data(warning.title(lang))
    else:
        title = _TITLES[lang][alert.kind].format(task=data(alert.task_name), count=alert.count)
    title = _tagged(_SEVERITY_TAG[lang][alert.severity], title, lang)
    if alert.reminder:
        reminder = _LABELS[lang]["reminder"]
        title = f"({reminder}) {title}" if lang == "en" else f"（{reminder}）{title}"
    return title


def _tagged(tag: str, title: str, lang: Language) -> str:
    return f"[{tag}] {title}" if lang == "en" else f"【{tag}】{title}"


def template_fields(alert: Alert, ctx: MessageContext, title: str) -> dict[str, str]:
    """The alert as the short values SMS templates take (uncut: each channel cuts to its
    vendor's limit)."""
    lang: Language = ctx.language
    run = alert.run
    local = alert.at.astimezone(ZoneInfo(ctx.timezone))
    return {
        "task": alert.task_name,
        "kind": _KIND_SHORT[lang][alert.kind],
        "severity": _SEVERITY_TAG[lang][alert.severity],
        "run_id": run.id if run is not None else "",
        "run": run.id[:8] if run is not None else "",
        "message": _gist(alert, ctx),
        "count": str(alert.count),
        "time": f"{local:%m-%d %H:%M}",
        "title": title,
    }


def _gist(alert: Alert, ctx: MessageContext) -> str:
    """The one fact of the alert an operator needs first: the error, how long, why."""
    lang: Language = ctx.language
    labels = _LABELS[lang]
    run = alert.run
    kind = alert.kind
    if kind in (AlertKind.FAILED, AlertKind.CONSECUTIVE_FAILURES):
        return _error_text(run, ctx) if run is not None else ""
    if kind in (AlertKind.TOO_LONG, AlertKind.LATE) and alert.elapsed is not None:
        label = labels["running_for"] if kind is AlertKind.TOO_LONG else labels["waited"]
        return f"{label}{_sep(lang)}{format_duration(alert.elapsed, lang)}"
    if kind is AlertKind.MISSED and run is not None and run.reason:
        return _clean(_why_missed(run.reason, lang), ctx, ERROR_LIMIT)
    if kind is AlertKind.RECOVERED and alert.count:
        return f"{labels['streak']}{_sep(lang)}{alert.count}"
    if alert.calendar_warning is not None:
        return alert.calendar_warning.message(lang)
    return ""


def format_time(value: datetime, timezone: str) -> str:
    """``2024-05-01 02:00:00 (Asia/Shanghai)``."""
    local = value.astimezone(ZoneInfo(timezone))
    return f"{local:%Y-%m-%d %H:%M:%S} ({timezone})"


def format_duration(seconds: float, lang: Language) -> str:
    units = ("h", "min", "s") if lang == "en" else ("小时", "分钟", "秒")
    gap = " "
    if seconds < 10:
        return f"{seconds:.1f}{gap}{units[2]}"
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    # Zero parts are left out: "5 min", not "5 min 0 s".
    parts = [f"{n}{gap}{unit}" for n, unit in zip((h, m, s), units, strict=True) if n]
    return " ".join(parts)


def run_link(ctx: MessageContext, run: Run | None, task_name: str) -> str | None:
    if not ctx.base_url or run is None:
        return None
    # Percent-encoded: the link is written into Markdown unescaped, and a task name is
    # anyone's string ("a) [x](http://...").
    return ctx.link_template.format(
        base_url=ctx.base_url.rstrip("/"), run_id=run.id, task_name=quote(task_name, safe="")
    )


def _sep(lang: Language) -> str:
    return ": " if lang == "en" else "："


def _rows(alert: Alert, ctx: MessageContext) -> list[tuple[str, str]]:
    lang: Language = ctx.language
    labels = _LABELS[lang]
    tz = ctx.timezone
    run = alert.run
    warning = alert.calendar_warning
    if warning is not None:
        return [(labels["calendar"], warning.calendar), (labels["reason"], warning.message(lang))]
    rows: list[tuple[str, str]] = [(labels["task"], alert.task_name)]
    if ctx.task_description:
        rows.append((labels["description"], _clean(ctx.task_description, ctx, 300)))
    step = parse_step_key(run.schedule_id) if run is not None else None
    if run is not None and step is not None:
        rows += _workflow_rows(run, step, ctx)
    elif run is not None and run.schedule_id is None:
        rows.append((labels["schedule"], labels["manual"]))
    elif ctx.schedule:
        rows.append((labels["schedule"], ctx.schedule))
    if run is not None:
        rows.append((labels["run"], run.id))
        rows.append((labels["scheduled"], format_time(run.scheduled_for, tz)))
        if run.started_at is not None:
            rows.append((labels["started"], format_time(run.started_at, tz)))
        if run.finished_at is not None and run.status.finished:
            rows.append((labels["finished"], format_time(run.finished_at, tz)))
    rows += _specific(alert, ctx)
    if run is not None and run.node_id:
        rows.append((labels["node"], run.node_id))
    link = run_link(ctx, run, alert.task_name)
    if link:
        rows.append((labels["link"], link))
    return rows


def _workflow_rows(run: Run, step: tuple[str, str], ctx: MessageContext) -> list[tuple[str, str]]:
    """A workflow step's run: which workflow and step (an audit: paged at 3 am by "Task
    failed: slowstep", one could not tell which pipeline broke), and its workflow run."""
    labels = _LABELS[ctx.language]
    run_id, step_name = step
    context = run.kwargs.get(WORKFLOW_KEY)
    name = context.get("workflow") if isinstance(context, dict) else None
    where = f"{name or '?'}, {labels['step']} {step_name}"
    link = f"{ctx.base_url.rstrip('/')}/workflow-runs/{run_id}" if ctx.base_url else run_id
    return [(labels["workflow"], where), (labels["workflow_run"], link)]


def _no_node_text(run: Run, lang: Language) -> str | None:
    """Why a late run waits when no live node can take it (the reason the monitor gave
    it: :mod:`schedkit.waiting`), in ``lang``; None for any other reason."""
    if run.reason == no_task_reason(run.task_name):
        if lang == "zh":
            return f"任务 {run.task_name} 未在任何在线节点上注册（或不在其 executor.tasks 中）"
        return run.reason
    if run.labels and run.reason == no_labels_reason(run.labels):
        if lang == "zh":
            return f"没有在线节点提供此运行所需的标签 {', '.join(run.labels)}"
        return run.reason
    return None


def _specific(alert: Alert, ctx: MessageContext) -> list[tuple[str, str]]:
    lang: Language = ctx.language
    labels = _LABELS[lang]
    run = alert.run
    rows: list[tuple[str, str]] = []
    kind = alert.kind
    if run is not None and kind is not AlertKind.LATE:
        rows.append((labels["status"], _STATUS[lang][run.status]))
    if run is not None and kind in (
        AlertKind.FAILED,
        AlertKind.CONSECUTIVE_FAILURES,
        AlertKind.TOO_LONG,
        AlertKind.RECOVERED,
    ):
        rows.append((labels["attempt"], f"{run.attempt}/{max(run.max_attempts, run.attempt)}"))
    if kind in (AlertKind.FAILED, AlertKind.CONSECUTIVE_FAILURES) and run is not None:
        error = _error_text(run, ctx)
        if error:
            rows.append((labels["error"], error))
        if alert.count > 1 or kind is AlertKind.CONSECUTIVE_FAILURES:
            rows.append((labels["streak"], str(alert.count)))
        if alert.since is not None and alert.count > 1:
            rows.append((labels["since"], format_time(alert.since, ctx.timezone)))
    elif kind is AlertKind.TOO_LONG:
        if alert.elapsed is not None:
            running = run is not None and run.status is RunStatus.RUNNING
            label = labels["running_for"] if running else labels["duration"]
            value = format_duration(alert.elapsed, lang)
            if running:
                value += f" ({labels['still_running']})"
            rows.append((label, value))
        if alert.threshold is not None:
            rows.append((labels["threshold"], format_duration(alert.threshold, lang)))
    elif kind is AlertKind.LATE:
        if alert.elapsed is not None:
            value = format_duration(alert.elapsed, lang)
            if run is not None and run.status is RunStatus.PENDING:
                value += f" ({labels['not_started']})"
            rows.append((labels["waited"], value))
        if alert.threshold is not None:
            rows.append((labels["threshold"], format_duration(alert.threshold, lang)))
        if alert.count > 1:
            rows.append((labels["late_count"], str(alert.count)))
        waits = _no_node_text(run, lang) if run is not None else None
        if waits is not None:
            rows.append((labels["reason"], waits))
    elif kind is AlertKind.MISSED:
        if run is not None and run.reason:
            rows.append((labels["reason"], _clean(_why_missed(run.reason, lang), ctx, ERROR_LIMIT)))
        if alert.count > 1:
            rows.append((labels["missed_count"], str(alert.count)))
            if alert.since is not None:
                rows.append((labels["since"], format_time(alert.since, ctx.timezone)))
    elif kind is AlertKind.RECOVERED:
        if run is not None and run.duration is not None:
            rows.append((labels["duration"], format_duration(run.duration, lang)))
        if alert.count:
            rows.append((labels["streak"], str(alert.count)))
        if alert.since is not None:
            rows.append((labels["since"], format_time(alert.since, ctx.timezone)))
        last = alert.last_error or {}
        if last.get("type") or last.get("message"):
            text = f"{last.get('type', '')}: {last.get('message', '')}".strip(": ")
            rows.append((labels["last_error"], _clean(text, ctx, ERROR_LIMIT)))
    return rows


def _error_text(run: Run, ctx: MessageContext) -> str:
    error = run.error or {}
    kind = str(error.get("type") or "")
    message = str(error.get("message") or run.reason or "")
    text = f"{kind}: {message}" if kind and message else kind or message
    return _clean(text, ctx, ERROR_LIMIT)


#: The engine's reasons for a missed fire (engine.planning), in Chinese: the reason is
#: stored as English text, and a Chinese alert said "12.5 s late, over
#: misfire_grace_time 1 s" (the console translates the same shapes, messages.js).
_MISSED_ZH: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"([\d.]+) s late, over misfire_grace_time ([\d.]+) s"),
        "晚了 {0} 秒，超过错过宽限时间 {1} 秒",
    ),
    (
        re.compile(r"overlap policy skip: (\d+) run\(s\) still active \(max_instances=(\d+)\)"),
        "重叠策略跳过：仍有 {0} 次运行未结束（最大并发 {1}）",
    ),
    (
        re.compile(
            r"overlap policy queue_one: one run is already queued; (\d+) run\(s\) still "
            r"active \(max_instances=(\d+)\)"
        ),
        "已跳过：已有一次运行在排队；仍有 {0} 次运行未结束（最大并发 {1}）",
    ),
)


def _why_missed(reason: str, lang: Language) -> str:
    if lang == "zh":
        for pattern, text in _MISSED_ZH:
            found = pattern.fullmatch(reason)
            if found is not None:
                return text.format(*found.groups())
    return reason


def _clean(text: str, ctx: MessageContext, limit: int) -> str:
    """One line, redacted, cut to ``limit``."""
    flat = " ".join(text.split())
    return redact(flat, ctx.secrets, limit)
