"""The CLI's words in each language: table headers, single words and sentences with
values (English is the key; ``--lang zh`` looks each one up here)."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import Any, Literal

from schedkit.clock import zoned

#: The languages of the CLI's output (``--lang``).
Lang = Literal["en", "zh"]

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
    "stopping": "停止中",
    "failing": "故障",
    "outlived upgrade": "旧版本（存储已升级）",
    # a node's loops (engine/health.py)
    "scheduler loop": "调度循环",
    "scheduler lease": "调度租约",
    "claim loop": "运行领取循环",
    "node heartbeat": "节点心跳",
    "scheduler": "调度",
    "executor": "执行",
    # calendars
    "base": "基础规则",
    "overrides": "覆盖日期",
    "coverage": "数据覆盖",
    "confirmed": "已确认",
    "not confirmed": "未确认",
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
    # schedkit alerts test
    "channel": "通道",
    "scheme": "协议",
    "delivered": "已送达",
}

#: Sentences with values, per language.
_TEMPLATES: dict[str, dict[Lang, str]] = {
    "times in": {"en": "times in {zone}", "zh": "时间为 {zone} 时区"},
    "alert test": {
        "en": "schedkit test alert from node {node} at {time}:",
        "zh": "schedkit 测试告警：来自节点 {node}，时间 {time}：",
    },
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
    "pending default": {
        "en": " (default, stored when a node starts)",
        "zh": "（默认调度，节点启动时保存）",
    },
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
    "no live node": {
        "en": "no live node on this store: a node is listed while a process runs one "
        "(schedkit serve, schedkit worker, or an app that starts a Scheduler)",
        "zh": "此存储上没有在线节点：进程运行节点时才会列出"
        "（schedkit serve、schedkit worker，或启动了 Scheduler 的应用）",
    },
    "loop failing": {
        "en": "node {node}: the {loop} fails since {since}: {error}",
        "zh": "节点 {node}：{loop}自 {since} 起失败：{error}",
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
    "exit held": {
        "en": "cancelling the run created here, then exiting (a few seconds at most; "
        "Ctrl-C again exits at once)",
        "zh": "正在取消此处创建的运行，随后退出（至多几秒；再按 Ctrl-C 立即退出）",
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
    "import unchanged": {
        "en": "{n:,} schedule(s) of the file stored already as it has them, left as they "
        "are: {ids}",
        "zh": "文件中有 {n:,} 个调度已按相同内容存储，保持不变：{ids}",
    },
    "exported": {
        "en": "exported {n:,} schedule(s) to {file}",
        "zh": "已将 {n:,} 个调度导出到 {file}",
    },
    "export ended": {
        "en": "left out {n:,} schedule(s) ended by their max_runs: {ids}",
        "zh": "已略过 {n:,} 个已达 max_runs 而结束的调度：{ids}",
    },
    "check ok": {"en": "ok: no problem found", "zh": "正常：未发现问题"},
    "check problems": {"en": "{n} problem(s)", "zh": "发现 {n} 个问题"},
    "store created": {
        "en": "created store {store} at {kind} {version}",
        "zh": "已创建存储 {store}，{kind} {version}",
    },
    "store upgraded": {
        "en": "upgraded store {store} from {kind} {found} to {version}",
        "zh": "已升级存储 {store}，{kind} {found} → {version}",
    },
    "store current": {
        "en": "store {store} is at {kind} {version} (up to date)",
        "zh": "存储 {store} 的{kind}为 {version}（已是最新）",
    },
    "store newer": {
        "en": "store {store} is at {kind} {version}, newer than this release's {code}: "
        "compatible, this release runs on it",
        "zh": "存储 {store} 的{kind}为 {version}，比本版本的 {code} 新：兼容，本版本可在其上运行",
    },
    "no config": {"en": "(defaults and environment)", "zh": "（默认值与环境变量）"},
    "store version": {
        "en": "{store} ({kind} {version})",
        "zh": "{store}（{kind} {version}）",
    },
    # What a store's version counts: the SQL stores' schema, MongoDB's indexes.
    "schema version": {"en": "schema version", "zh": "结构版本"},
    "index version": {"en": "index version", "zh": "索引版本"},
    "tasks found": {"en": "{n} discovered in {where}", "zh": "在 {where} 中发现 {n} 个"},
    "schedules stored": {"en": "{n} stored", "zh": "已保存 {n} 个"},
    "notice entered": {
        "en": "entered the {year} notice ({state}): {n} day(s) — {off} off, {worked} worked, "
        "version {version}",
        "zh": "已录入 {year} 年通知（{state}）：{n} 天，放假 {off} 天，上班 {worked} 天，"
        "版本 {version}",
    },
    "notice withdrawn": {
        "en": "withdrew the {year} notice, version {version}",
        "zh": "已撤回 {year} 年通知，版本 {version}",
    },
    "calendar saved": {
        "en": "{what}: calendar {name} (base {base}), {n} override(s), version {version}",
        "zh": "{what}：日历 {name}（基础规则 {base}），{n} 个覆盖日期，版本 {version}",
    },
    "naive zone": {
        "en": "; naive date-times are read in {zone}, not in this machine's zone ({local})",
        "zh": "；不带时区的时间按 {zone} 解读，而不是本机时区（{local}）",
    },
    # schedkit next: why a list is shorter than asked for
    "next stopped budget": {
        "en": "the search stopped after {seconds:g} s, having looked up to {to}",
        "zh": "搜索在 {seconds:g} 秒后停止，已查到 {to}",
    },
    "next stopped scan_limit": {
        "en": "the search stopped after {limit:,} fires, having looked up to {to}",
        "zh": "搜索在检查 {limit:,} 次触发后停止，已查到 {to}",
    },
    "next stopped calendar_closed": {
        "en": "the search stopped at {to}, after years in which the calendar allowed none "
        "of its fires",
        "zh": "搜索查到 {to} 为止：连续数年日历不允许任何一次触发",
    },
    "next closed": {
        "en": "(no further fire found: {stopped}; calendar {calendar} is closed on every day "
        "the trigger fires on from {since} to {to})",
        "zh": "（未找到更多触发：{stopped}；日历 {calendar} 在 {since} 至 {to} 期间，"
        "触发器的每个触发日都不开放）",
    },
    "next unsearched": {
        "en": "({found} of {asked} fires found: {stopped}; later fires were not searched)",
        "zh": "（找到 {found}/{asked} 次触发：{stopped}；之后的触发未再查找）",
    },
    "next no more": {"en": "(no more fires)", "zh": "（没有更多触发）"},
    # schedkit next TASK: whose fires each list is
    "next schedule": {"en": "schedule {id} of task {task}", "zh": "任务 {task} 的调度计划 {id}"},
    "next paused": {
        "en": " (paused: resumed, it fires from then on)",
        "zh": "（已暂停：恢复后从恢复时起触发）",
    },
    "next none": {
        "en": "task {task} has no schedule: it runs only when started by hand",
        "zh": "任务 {task} 没有调度计划：只能手动运行",
    },
    "next default": {
        "en": "default schedule of task {task}, not stored yet (a node's start stores it)",
        "zh": "任务 {task} 的默认调度，尚未保存（节点启动时保存）",
    },
    "same to year": {
        "en": " The same holds for each year to {last} ({n:,} years).",
        "zh": "此后直至 {last} 年均同此情况（共 {n:,} 年）。",
    },
    # schedkit db rebuild-rollups
    "rollups rebuilt": {
        "en": "rebuilt the run rollups: {runs} finished run(s) of {tasks} task(s) in "
        "{hours} task-hour rollup(s), in {seconds} s",
        "zh": "已重建运行汇总：{tasks} 个任务的 {runs} 条已结束运行，共 {hours} 条"
        "（任务 × 小时）汇总，用时 {seconds} 秒",
    },
    "rollups were right": {
        "en": "the rollups counted {before} before: they were right",
        "zh": "重建前汇总计数为 {before}：原本正确",
    },
    "rollups corrected": {
        "en": "the rollups counted {before} before ({change} corrected)",
        "zh": "重建前汇总计数为 {before}（已修正 {change}）",
    },
    # schedkit purge
    "purge runs": {
        "en": "{n} finished run(s) older than {age}: finished before {at}",
        "zh": "{n} 条结束早于 {age}前的运行：结束于 {at} 之前",
    },
    "purge workflow runs": {
        "en": "{n} workflow run(s) that ended before {at}",
        "zh": "{n} 个结束于 {at} 之前的工作流运行",
    },
    "purge audit": {
        "en": "{n} audit event(s) older than {age}: recorded before {at}",
        "zh": "{n} 条早于 {age}前的审计记录：记录于 {at} 之前",
    },
    "purge deleted": {"en": "deleted {what}", "zh": "已删除 {what}"},
    "purge would delete": {"en": "would delete {what}", "zh": "将删除 {what}"},
    "purge dry run": {"en": "dry run: nothing deleted", "zh": "试运行：未删除任何记录"},
    "purge ask": {"en": "delete {what}?", "zh": "删除{what}？"},
    "purge and": {"en": " and ", "zh": "，以及 "},
    "purge declined": {
        "en": "purge not confirmed: nothing deleted",
        "zh": "未确认清理：未删除任何记录",
    },
    # schedkit workflow status: a step's skip reason (workflows/plan.py) and its retry
    "step stopped": {
        "en": "the workflow stopped: step {step} {status}",
        "zh": "工作流已停止（步骤 {step}：{status}）",
    },
    "step upstream": {"en": "upstream step {step} {status}", "zh": "上游步骤 {step}：{status}"},
    "step no failure": {"en": "no upstream step failed", "zh": "没有上游步骤失败"},
    "step waits retry": {"en": "waiting to retry", "zh": "等待重试"},
    "step retries at": {"en": "retries at {time}", "zh": "将于 {time} 重试"},
    "step last failure": {"en": "last attempt failed: {message}", "zh": "上次尝试失败：{message}"},
    # A run's reason naming a fire (engine/planning.py, engine/scheduler.py)
    "reason coalesced": {
        "en": "coalesced into the fire at {time}",
        "zh": "已合并到 {time} 的触发",
    },
    "reason replaced": {"en": "replaced by the fire at {time}", "zh": "被 {time} 的触发取代"},
}


def tr(text: str, lang: Lang) -> str:
    """``text`` in ``lang`` (table headers and a few words; English is the key)."""
    if lang == "zh":
        return _ZH.get(text, text)
    return text


def fill(template: str, lang: Lang, **values: Any) -> str:
    """A sentence of :data:`_TEMPLATES` in ``lang`` with ``values`` filled in."""
    return _TEMPLATES[template][lang].format(**values)


#: The skip reasons workflows/plan.py writes (English, stored), read as the console
#: reads them (console/static/messages.js) to say them in another language.
_ENDED = r"(\S+) (?:was |ended )?(timed out|\w+)"
_STEP_REASONS = [
    (re.compile(rf"the workflow stopped: step {_ENDED}"), "step stopped"),
    (re.compile(rf"upstream step {_ENDED}"), "step upstream"),
    (re.compile(r"no upstream step failed"), "step no failure"),
]


#: Run reasons the engine stores in English with a fire's UTC time, said in the CLI's
#: zone (beside times in that zone a UTC one reads as a wrong local time) as the console
#: says them (console/static/messages.js).
_FIRE_REASONS = [
    (re.compile(r"coalesced into the fire at (\S+)"), "reason coalesced"),
    (re.compile(r"replaced by the fire at (\S+)"), "reason replaced"),
]


def run_reason(reason: str, lang: Lang, tz: tzinfo) -> str:
    """A run's stored reason in ``lang``, a fire's time in it in ``tz`` with its offset
    (any other reason as stored)."""
    for pattern, template in _FIRE_REASONS:
        m = pattern.fullmatch(reason)
        if m is None:
            continue
        try:
            fire = datetime.fromisoformat(m[1])
        except ValueError:
            return reason
        return fill(template, lang, time=zoned(fire, tz))
    return reason


def step_reason(reason: str, lang: Lang) -> str:
    """A workflow step's skip reason in ``lang`` (as stored, in English, otherwise)."""
    if lang == "en":
        return reason
    for pattern, template in _STEP_REASONS:
        m = pattern.fullmatch(reason)
        if m is None:
            continue
        if not m.groups():
            return fill(template, lang)
        ended = "timeout" if m[2] == "timed out" else m[2]
        return fill(template, lang, step=m[1], status=tr(ended, lang))
    return reason
