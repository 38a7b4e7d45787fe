"""Output: rich tables for people, JSON for scripts, times in the configured zone."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from schedkit import models
from schedkit.models import Run, RunStatus, attempt_failure, handed_back, to_json
from schedkit.readmodels import ScheduleView
from schedkit.redaction import redact
from schedkit.service.past_dates import FireRecorded, PastEndDate, ScheduleNote

#: The languages of the CLI's output (``--lang``).
Lang = Literal["en", "zh"]

#: Characters a terminal acts on instead of showing them: C0 controls but tab, DEL, C1
#: controls, the line separators and the bidi controls that reorder text on screen.
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\n{_CONTROLS}]")
_CONTROL_BUT_NEWLINE = re.compile(f"[{_CONTROLS}]")

_ZH: dict[str, str] = {
    "task": "任务",
    "name": "名称",
    "category": "类别",
    "tags": "标签",
    "priority": "优先级",
    "schedule": "调度",
    "schedules": "调度",
    "next run": "下次运行",
    "last run": "上次运行",
    "run": "运行",
    "status": "状态",
    "source": "来源",
    "scheduled": "计划时间",
    "started": "开始",
    "duration": "耗时",
    "attempt": "尝试",
    "message": "信息",
    "id": "编号",
    "paused": "已暂停",
    "note": "备注",
    "description": "描述",
    "retry": "重试",
    "timeout": "超时",
    "parameters": "参数",
    "type": "类型",
    "default": "默认值",
    "required": "必填",
    "recent runs": "最近运行",
    "policies": "策略",
    "check": "检查",
    "result": "结果",
    "problem": "问题",
    "created": "创建时间",
    "last used": "最近使用",
    "role": "角色",
    "revoked": "已撤销",
    "no runs": "没有运行记录",
    "no tasks": "没有任务",
    "no schedules": "没有调度计划",
    "yes": "是",
    "no": "否",
    "manual only": "仅手动运行",
    "pending": "等待中",
    "running": "运行中",
    "success": "成功",
    "failed": "失败",
    "skipped": "已跳过",
    "cancelled": "已取消",
    "done": "已完成",
    "lost": "丢失",
    "missed": "错过",
    # nodes
    "node": "节点",
    "host": "主机",
    "pid": "进程号",
    "version": "版本",
    "roles": "角色",
    "labels": "标签",
    "capacity": "容量",
    "leader": "主节点",
    "heartbeat": "心跳",
    "clock": "时钟偏差",
    "store time": "按存储时间",
    "state": "状态",
    "alive": "在线",
    "silent": "失联",
    "draining": "排空中",
    "scheduler": "调度",
    "executor": "执行",
    # calendars
    "base": "基础规则",
    "overrides": "覆盖日期",
    "coverage": "数据覆盖",
    "confirmed": "已确认",
    "estimated": "推算",
    "uncovered": "无数据",
    # check
    "config": "配置",
    "timezone": "时区",
    "store": "存储",
    "tasks": "任务",
    "discovery": "任务发现",
    # priorities, trigger sources, roles, overlap policies
    "low": "低",
    "normal": "普通",
    "high": "高",
    "critical": "紧急",
    "manual": "手动触发",
    "catch_up": "补跑",
    "dependency": "依赖触发",
    "max_runs": "已达最大运行次数",
    "end_date": "已过结束时间",
    "last_fire": "唯一一次触发已执行",
    "backfill": "回填",
    "viewer": "只读",
    "operator": "操作员",
    "admin": "管理员",
    "skip": "跳过本次",
    "allow": "照常执行",
    "queue_one": "排队一次",
    "replace": "取消正在运行的",
    # parameter types (JSON Schema)
    "string": "字符串",
    "integer": "整数",
    "number": "数字",
    "boolean": "布尔值",
    "array": "数组",
    "object": "对象",
    "null": "空",
    "any": "任意",
    "date": "日期",
    "date-time": "日期时间",
    # workflows
    "workflow": "工作流",
    "workflows": "工作流",
    "step": "步骤",
    "steps": "步骤",
    "after": "前置步骤",
    "on": "运行条件",
    "policy": "失败策略",
    "waiting": "等待上游",
    "ready": "就绪",
    "always": "总是运行",
    "failure": "上游失败时",
    "stop": "停止其余步骤",
    "continue": "继续独立分支",
    "no workflows": "没有工作流",
    "no workflow runs": "没有工作流运行记录",
    # the CLI's own words around values
    "warning": "警告",
    "calendar": "日历",
    "saved": "已保存",
    "imported": "已导入",
}

#: Sentences with values, per language.
_TEMPLATES: dict[str, dict[Lang, str]] = {
    "retry": {
        "en": "max_retries={n} retry_delay={delay} backoff_factor={factor}",
        "zh": "最多重试 {n} 次，间隔 {delay}，退避系数 ×{factor}",
    },
    "ended": {
        "en": "ended ({why})",
        "zh": "已结束（{why}）",
    },
    "backfill": {
        "en": "backfill of {id} {start} .. {end} (concurrency {n}): {state}",
        "zh": "{id} 回填 {start} 至 {end}（并发 {n}）：{state}",
    },
    "backfill progress": {
        "en": "{done}/{total} done: {succeeded} succeeded, {failed} failed, {skipped} skipped, "
        "{cancelled} cancelled; {running} running, {pending} waiting",
        "zh": "已完成 {done}/{total}：成功 {succeeded}，失败 {failed}，跳过 {skipped}，"
        "取消 {cancelled}；运行中 {running}，等待 {pending}",
    },
    "policies": {
        "en": "max_instances={n} overlap={overlap} misfire_grace={grace} timeout={timeout}",
        "zh": "最大并发 {n}，重叠时{overlap}，错过宽限 {grace}，超时 {timeout}",
    },
    "more schedules": {"en": "and {n} more", "zh": "另有 {n} 个"},
    "more warnings": {
        "en": "and {n:,} more warnings like these",
        "zh": "另有 {n:,} 条类似警告",
    },
    "schedules shown": {
        "en": "the first {shown} of {total} schedules, in id order",
        "zh": "共 {total} 个调度计划，按 ID 顺序显示前 {shown} 个",
    },
    "past run date": {
        "en": "schedule {id} fires once, at {at}: {late} ago, later than its misfire grace "
        "of {grace}, so it will be recorded missed, not run",
        "zh": "调度计划 {id} 只触发一次，时间 {at}，已过去 {late}，超过错过宽限 {grace}："
        "将记为错过，不会运行",
    },
    "past end date": {
        "en": "schedule {id} has no fire left before its end date {at}: it is stored as "
        "ended and will not run",
        "zh": "调度计划 {id} 在结束时间 {at} 之前已没有触发：将保存为已结束，不会运行",
    },
    "fire recorded": {
        "en": "schedule {id} fires at {at}, a fire recorded already for this schedule id "
        "(run {run}, {status}): a schedule's fire runs once, so {then}; to run the task "
        "again, run it now or give the schedule another id",
        "zh": "调度计划 {id} 在 {at} 触发，但这个调度计划 ID 的这次触发已有记录（运行 {run}，"
        "{status}）：同一调度计划的每次触发只运行一次，{then}；要再次运行该任务，请立即运行"
        "或为调度计划换一个 ID",
    },
    "fire recorded once": {"en": "it will not run", "zh": "它不会再运行"},
    "fire recorded again": {
        "en": "that fire will not run again",
        "zh": "这次触发不会再运行，之后的触发照常",
    },
    # Confirmations of the commands (values are filled in already escaped).
    "run finished": {
        "en": "run {id} of {task} {status} in {duration}",
        "zh": "{task} 的运行 {id} {status}，耗时 {duration}",
    },
    "run ended": {
        "en": "run {id} of {task} {status} after {duration}",
        "zh": "{task} 的运行 {id} {status}，耗时 {duration}",
    },
    "retry pending after": {
        "en": "retry pending after: {error}",
        "zh": "等待重试，上次失败：{error}",
    },
    "handed back": {"en": "handed back: {error}", "zh": "已交还：{error}"},
    "run after attempts": {
        "en": "run {id} of {task} {status} after {attempts} attempts in {duration}",
        "zh": "{task} 的运行 {id} {status}，共 {attempts} 次尝试，总耗时 {duration}",
    },
    "run still": {
        "en": "run {id} of {task} still {status} after {timeout}s; stopped waiting",
        "zh": "{task} 的运行 {id} 在 {timeout} 秒后仍{status}；不再等待",
    },
    "run created": {
        "en": "created run {id} of {task} ({status})",
        "zh": "已创建 {task} 的运行 {id}（{status}）",
    },
    "run for key": {
        "en": "run {id} of {task} for key {key} ({status})",
        "zh": "{task} 的运行 {id}，幂等键 {key}（{status}）",
    },
    "no service": {
        "en": "no schedkit service is running on this store: the run stays pending until "
        "one starts (or run it here: schedkit run {task} --wait)",
        "zh": "此存储上没有运行中的 schedkit 服务：运行保持等待，直到有服务启动"
        "（或在此运行：schedkit run {task} --wait）",
    },
    "waits for service": {
        "en": "run {id} is executed by the schedkit service on this store; waiting for its end",
        "zh": "运行 {id} 由此存储上的 schedkit 服务执行，等待其结束",
    },
    "workflow no service": {
        "en": "no schedkit service is running on this store: workflow run {id} waits for "
        "one to execute its steps (start one: schedkit serve, or schedkit worker){more}",
        "zh": "此存储上没有运行中的 schedkit 服务：工作流运行 {id} 等待服务执行其步骤"
        "（启动一个：schedkit serve 或 schedkit worker）{more}",
    },
    "workflow ctrl-c": {
        "en": "; Ctrl-C stops waiting, the workflow run stays",
        "zh": "；Ctrl-C 停止等待，工作流运行保留",
    },
    "workflow goes on": {
        "en": "stopped waiting; workflow run {id} goes on (a schedkit service executes it)",
        "zh": "已停止等待；工作流运行 {id} 继续（由 schedkit 服务执行）",
    },
    "run cancelled": {"en": "cancelled run {id} of {task}", "zh": "已取消 {task} 的运行 {id}"},
    "cancel requested": {
        "en": "cancel requested for run {id} of {task}: node {node} will stop it",
        "zh": "已请求取消 {task} 的运行 {id}：节点 {node} 将停止它",
    },
    "paused": {"en": "paused {id}", "zh": "已暂停 {id}"},
    "resumed": {"en": "resumed {id}; next run {next}", "zh": "已恢复 {id}；下次运行 {next}"},
    "scheduled": {
        "en": "scheduled {task} [dim]({id})[/]: {description}; next run {next}",
        "zh": "已设置 {task} 的调度 [dim]（{id}）[/]：{description}；下次运行 {next}",
    },
    "removed schedule": {"en": "removed schedule {id}", "zh": "已删除调度 {id}"},
    "removed schedules": {
        "en": "removed every schedule of {task}",
        "zh": "已删除 {task} 的全部调度",
    },
    "imported": {
        "en": "imported {n:,} schedule(s) from {file}",
        "zh": "已从 {file} 导入 {n:,} 个调度",
    },
    "check ok": {"en": "ok: no problem found", "zh": "正常：未发现问题"},
    "check problems": {"en": "{n} problem(s)", "zh": "发现 {n} 个问题"},
    "store created": {
        "en": "created store {store} at schema version {version}",
        "zh": "已创建存储 {store}，结构版本 {version}",
    },
    "store upgraded": {
        "en": "upgraded store {store} from schema version {found} to {version}",
        "zh": "已升级存储 {store}，结构版本 {found} → {version}",
    },
    "store current": {
        "en": "store {store} is at schema version {version} (up to date)",
        "zh": "存储 {store} 的结构版本为 {version}（已是最新）",
    },
    "no config": {"en": "(defaults and environment)", "zh": "（默认值与环境变量）"},
    "store version": {
        "en": "{store} (schema version {version})",
        "zh": "{store}（结构版本 {version}）",
    },
    "tasks found": {"en": "{n} discovered in {where}", "zh": "在 {where} 中发现 {n} 个"},
    "schedules stored": {"en": "{n} stored", "zh": "已保存 {n} 个"},
    "calendar saved": {
        "en": "{what}: calendar {name} (base {base}), {n} override(s), version {version}",
        "zh": "{what}：日历 {name}（基础规则 {base}），{n} 个覆盖日期，版本 {version}",
    },
    "naive zone": {
        "en": "; naive date-times are read in {zone}, not in this machine's zone ({local})",
        "zh": "；不带时区的时间按 {zone} 解读，而不是本机时区（{local}）",
    },
}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in "\n\r":
        return repr(char)[1:-1]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, lines: bool = False) -> str:
    """``text`` safe to print through rich: markup escaped, and control characters
    (ESC, NUL, C1, bidi controls ... ; newlines too unless ``lines``) shown as escapes
    (``\\x1b``), so that a stored note, name or log line cannot move the cursor, recolour
    the terminal or fake a line of output. Every string a user or a task supplied goes
    through here before the CLI prints it."""
    pattern = _CONTROL_BUT_NEWLINE if lines else _CONTROL
    return escape(pattern.sub(_escaped, text))


def json_safe(text: str) -> str:
    """JSON text with the controls :func:`json.dumps` leaves as they are (DEL, C1, bidi;
    it escapes C0 itself) written as ``\\u`` escapes: the same JSON value, inert on a
    terminal."""
    return _CONTROL_BUT_NEWLINE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


STATUS_STYLE: dict[RunStatus, str] = {
    RunStatus.PENDING: "cyan",
    RunStatus.RUNNING: "blue",
    RunStatus.SUCCESS: "green",
    RunStatus.FAILED: "red",
    RunStatus.TIMEOUT: "red",
    RunStatus.LOST: "red",
    RunStatus.CANCELLED: "yellow",
    RunStatus.SKIPPED: "yellow",
    RunStatus.MISSED: "yellow",
}


def tr(text: str, lang: Lang) -> str:
    """``text`` in ``lang`` (table headers and a few words; English is the key)."""
    if lang == "zh":
        return _ZH.get(text, text)
    return text


def fill(template: str, lang: Lang, **values: Any) -> str:
    """A sentence of :data:`_TEMPLATES` in ``lang`` with ``values`` filled in."""
    return _TEMPLATES[template][lang].format(**values)


def next_run(view: ScheduleView, lang: Lang) -> str:
    """A schedule's next run (the one its calendar allows), why its calendar allows none,
    or why it has ended (with its count when max_runs ended it)."""
    if view.ended is None:
        if view.next_fire_time_local is None and view.next_fire_note is not None:
            return view.next_fire_note
        return when(view.next_fire_time_local, None)
    why = tr(view.ended.replace("_", " "), lang) if lang == "en" else tr(view.ended, lang)
    if view.ended == "max_runs":
        why += f" {view.run_count}/{view.max_runs}"
    return fill("ended", lang, why=why)


def schedule_note(found: ScheduleNote, lang: Lang) -> str:
    """A note on a schedule saved, in the CLI's words and language."""
    if isinstance(found, PastEndDate):
        at = f"{when(found.end_date, None)} ({found.zone})"
        return fill("past end date", lang, id=found.schedule_id, at=at)
    if isinstance(found, FireRecorded):
        return fill(
            "fire recorded",
            lang,
            id=found.schedule_id,
            at=f"{when(found.fire, None)} ({found.zone})",
            run=found.run_id,
            status=tr(found.status.value, lang),
            then=fill("fire recorded once" if found.once else "fire recorded again", lang),
        )
    text = fill(
        "past run date",
        lang,
        id=found.schedule_id,
        at=f"{when(found.run_date, None)} ({found.zone})",
        late=_elapsed(found.late.total_seconds()),
        grace=seconds(found.misfire_grace_time),
    )
    if found.local_zone is not None:
        text += fill("naive zone", lang, zone=found.zone, local=found.local_zone)
    return text


def _elapsed(value: float) -> str:
    """:func:`seconds` with whole days first: years read as days, not 60,000 hours."""
    days, rest = divmod(value, 86400)
    return f"{int(days)}d{seconds(rest)}" if days else seconds(rest)


def store_line(console: Console, label: str, lang: Lang) -> None:
    """The store a command used, as the last line of its output."""
    console.print(f"{tr('store', lang)} {visible(label)}", style="dim", soft_wrap=True)


def emit_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout (UTF-8 kept readable, datetimes ISO 8601)."""
    typer.echo(json_safe(json.dumps(to_json(data), ensure_ascii=False, indent=2)))


#: Below this console width, tables leave out secondary columns.
NARROW = 110

#: Columns that never wrap (times, ids, statuses); the others fold.
_NO_WRAP = frozenset(
    {
        "run",
        "id",
        "name",
        "status",
        "scheduled",
        "next run",
        "created",
        "last used",
        "duration",
        "attempt",
    }
)


def table(headers: Sequence[str], lang: Lang, *, title: str | None = None) -> Table:
    t = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for header in headers:
        # Fold, never cut: a cell's text all shows (Chinese text has no spaces to wrap
        # at, and rich's default ellipsis dropped the rest of a description).
        t.add_column(tr(header, lang), no_wrap=header in _NO_WRAP, overflow="fold")
    return t


def when(value: datetime | None, tz: ZoneInfo | None) -> str:
    """An aware datetime in ``tz`` (None: as it is) as ``YYYY-MM-DD HH:MM:SS``; '-' for None."""
    if value is None:
        return "-"
    local = value if tz is None else value.astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.2f}s"
    minutes, secs = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def status_text(status: RunStatus, lang: Lang) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{visible(tr(status.value, lang))}[/]"


def short_id(run_id: str) -> str:
    """The last 8 hex digits: ids start with a timestamp, so the tail tells runs apart."""
    return run_id[-8:]


def run_message(run: Run, lang: Lang = "en") -> str:
    """What a person wants to know about a run's outcome, in one line, with credentials
    masked as the read models mask them (:func:`schedkit.redaction.redact`)."""
    if run.error:
        text = _error_text(run.error)
    elif run.result:
        text = str(run.result.get("message") or "")
    else:
        text = run.reason or ""
    if run.status is RunStatus.PENDING and run.attempt > 1 and run.attempt_errors:
        # The pending run's own fields were cleared by the requeue: the attempt before
        # says why it waits.
        last = run.attempt_errors[-1]
        error = attempt_failure(last) or {}
        if handed_back(last):
            text = fill("handed back", lang, error=error.get("message") or "")
        else:
            text = fill("retry pending after", lang, error=_error_text(error) or last.get("status"))
    return redact(" ".join(text.split()))


def _error_text(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    message = str(error.get("message") or "")
    return f"{kind}: {message}" if kind else message


def brief(value: Any, limit: int = 100) -> str:
    """A value on one line: scalars as they are, the rest as JSON cut at ``limit``."""
    if isinstance(value, str | int | float | bool) or value is None:
        text = str(value)
    else:
        text = json.dumps(to_json(value), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def progress_text(progress: Mapping[str, Any] | None) -> str:
    """``done/total note``, the note redacted."""
    if not progress:
        return ""
    done, total, note = progress.get("done"), progress.get("total"), progress.get("note")
    amount = f"{_num(done)}/{_num(total)}" if total else _num(done)
    return f"{amount} {redact(str(note))}" if note else amount


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def runs_table(
    runs: Sequence[Run],
    tz: ZoneInfo,
    lang: Lang,
    *,
    title: str | None = None,
    with_task: bool = True,
    width: int = 140,
) -> Table:
    """Runs as a table; on a narrow screen (< 110 columns) source and attempt are left out."""
    headers = ["run", "task", "status", "source", "scheduled", "duration", "attempt", "message"]
    drop = set() if with_task else {"task"}
    if width < NARROW:
        drop |= {"source", "attempt"}
    t = table([h for h in headers if h not in drop], lang, title=title)
    for run in runs:
        message = run_message(run, lang)
        if run.status is RunStatus.RUNNING and run.progress:
            message = progress_text(run.progress)
        cells = {
            "run": short_id(run.id),
            "task": visible(run.task_name),
            "status": status_text(run.status, lang),
            "source": tr(run.trigger_source.value, lang),
            "scheduled": when(run.scheduled_for, tz),
            # Across attempts, as `run --wait` says it (the last one's alone said 0.00s).
            "duration": seconds(models.time_across_attempts(run) or run.duration),
            "attempt": f"{run.attempt}/{run.max_attempts}",
            "message": visible(message),
        }
        t.add_row(*(cell for header, cell in cells.items() if header not in drop))
    return t


def print_kv(console: Console, rows: Sequence[tuple[str, str]], lang: Lang) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in rows:
        grid.add_row(tr(key, lang), value)
    console.print(grid)
