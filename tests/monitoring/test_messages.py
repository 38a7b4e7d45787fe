"""Message rendering: zh/en, text/Markdown, local times, no secrets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schedkit.alerts.config import AlertKind
from schedkit.alerts.messages import MessageContext, format_duration, format_time, render
from schedkit.alerts.rules import Alert
from schedkit.models import Run, RunStatus, TriggerSource
from schedkit.redaction import redact
from schedkit.waiting import no_labels_reason, no_task_reason
from schedkit.workflows.plan import WORKFLOW_KEY, step_key

T0 = datetime(2024, 5, 1, 18, 0, tzinfo=UTC)


def make_run(**kw: object) -> Run:
    fields: dict[str, object] = {
        "id": "r1",
        "task_name": "contract_expiry_check",
        "schedule_id": "contract_expiry_check",
        "trigger_source": TriggerSource.SCHEDULE,
        "scheduled_for": T0,
        "status": RunStatus.RUNNING,
        "started_at": T0 + timedelta(seconds=2),
        "attempt": 1,
        "max_attempts": 1,
    }
    fields.update(kw)
    return Run(**fields)  # type: ignore[arg-type]


CTX = MessageContext(language="zh", task_description="合同到期检查", schedule="每天 08:00")


@pytest.mark.parametrize(
    ("kind", "zh", "en"),
    [
        (
            AlertKind.FAILED,
            "【错误】任务执行失败：contract_expiry_check",
            "[ERROR] Task failed: contract_expiry_check",
        ),
        (
            AlertKind.CONSECUTIVE_FAILURES,
            "【严重】任务连续失败 3 次：contract_expiry_check",
            "[CRITICAL] Task failed 3 times in a row: contract_expiry_check",
        ),
        (
            AlertKind.TOO_LONG,
            "【警告】任务运行时间过长：contract_expiry_check",
            "[WARNING] Task running too long: contract_expiry_check",
        ),
        (
            AlertKind.MISSED,
            "【警告】任务错过执行：contract_expiry_check",
            "[WARNING] Fire missed: contract_expiry_check",
        ),
        (
            AlertKind.LATE,
            "【警告】任务延迟启动：contract_expiry_check",
            "[WARNING] Run started late: contract_expiry_check",
        ),
        (
            AlertKind.RECOVERED,
            "【恢复】任务已恢复：contract_expiry_check",
            "[OK] Task recovered: contract_expiry_check",
        ),
    ],
)
def test_titles(kind: AlertKind, zh: str, en: str) -> None:
    alert = Alert(kind=kind, task_name="contract_expiry_check", at=T0, run=make_run(), count=3)
    assert render(alert, CTX).title == zh
    assert render(alert, MessageContext(language="en")).title == en
    reminder = Alert(kind=kind, task_name="contract_expiry_check", at=T0, reminder=True, count=3)
    assert render(reminder, CTX).title == "（提醒）" + zh


def test_too_long_body_in_chinese_markdown() -> None:
    alert = Alert(
        kind=AlertKind.TOO_LONG,
        task_name="contract_expiry_check",
        at=T0,
        run=make_run(),
        elapsed=3725,
        threshold=3600,
    )
    body = render(alert, CTX, "markdown").body
    assert body.splitlines()[:4] == [
        "- **任务**：contract_expiry_check",
        "- **描述**：合同到期检查",
        "- **调度**：每天 08:00",
        "- **运行 ID**：r1",
    ]
    assert "- **计划时间**：2024-05-02 02:00:00 (Asia/Shanghai)" in body
    assert "- **开始时间**：2024-05-02 02:00:02 (Asia/Shanghai)" in body
    assert "- **已运行**：1 小时 2 分钟 5 秒 (仍在运行)" in body
    assert "- **阈值**：1 小时" in body


def test_failure_body_has_error_attempt_and_link_but_no_secrets() -> None:
    run = make_run(
        status=RunStatus.FAILED,
        attempt=3,
        max_attempts=3,
        finished_at=T0 + timedelta(seconds=9),
        duration=7.0,
        error={
            "type": "OperationalError",
            "message": "could not connect to postgresql://app:s3cret@db/exds\n"
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30 api_key=XYZ123",
            "traceback": "Traceback: very long",
        },
    )
    alert = Alert(kind=AlertKind.FAILED, task_name="contract_expiry_check", at=T0, run=run)
    ctx = MessageContext(
        language="en",
        base_url="https://ops.example.com/sched/",
        secrets=("XYZ123",),
        timezone="UTC",
    )
    body = render(alert, ctx).body
    assert "Attempt: 3/3" in body and "Status: failed" in body
    assert "Scheduled for: 2024-05-01 18:00:00 (UTC)" in body
    assert "Details: https://ops.example.com/sched/runs/r1" in body
    assert "s3cret" not in body and "eyJhbGciOiJIUzI1NiJ9" not in body and "XYZ123" not in body
    assert "Traceback" not in body
    assert "Error: OperationalError: could not connect to postgresql://app:***@db/exds" in body


def test_manual_run_and_no_link_without_base_url() -> None:
    alert = Alert(
        kind=AlertKind.FAILED,
        task_name="t",
        at=T0,
        run=make_run(
            schedule_id=None, trigger_source=TriggerSource.MANUAL, status=RunStatus.FAILED
        ),
    )
    body = render(alert, MessageContext(language="en")).body
    assert "Schedule: manual run" in body and "Details" not in body


def test_a_workflow_steps_alert_names_its_workflow_step_and_workflow_run() -> None:
    """An audit: "Task failed: slowstep" did not say which workflow (and step) failed."""
    run = make_run(
        schedule_id=step_key("wr1", "fetch"),
        trigger_source=TriggerSource.WORKFLOW,
        status=RunStatus.FAILED,
        kwargs={WORKFLOW_KEY: {"run_id": "wr1", "workflow": "nightly_close", "params": {}}},
    )
    alert = Alert(kind=AlertKind.FAILED, task_name="t", at=T0, run=run)
    body = render(alert, MessageContext(language="en", base_url="https://ops/sk/")).body
    assert "Workflow: nightly_close, step fetch" in body
    assert "Workflow run: https://ops/sk/workflow-runs/wr1" in body
    assert "Schedule:" not in body
    zh = render(alert, MessageContext(language="zh")).body
    assert "工作流：nightly_close, 步骤 fetch" in zh and "工作流运行：wr1" in zh


def test_long_errors_are_cut() -> None:
    run = make_run(status=RunStatus.FAILED, error={"type": "E", "message": "x" * 5000})
    body = render(Alert(kind=AlertKind.FAILED, task_name="t", at=T0, run=run), CTX).body
    assert max(len(line) for line in body.splitlines()) < 520


def test_helpers() -> None:
    assert format_time(T0, "Asia/Shanghai") == "2024-05-02 02:00:00 (Asia/Shanghai)"
    assert format_duration(0.42, "en") == "0.4 s"
    assert format_duration(59, "zh") == "59 秒"
    assert format_duration(3661, "en") == "1 h 1 min 1 s"
    # Zero parts are left out ("delay 5 min 0 s" read oddly); 59.6 s rounds to a minute.
    assert format_duration(300, "en") == "5 min"
    assert format_duration(3605, "en") == "1 h 5 s"
    assert format_duration(7200, "zh") == "2 小时"
    assert format_duration(59.6, "en") == "1 min"
    assert format_duration(42.4, "en") == "42 s"
    assert redact("password: 'hunter2', token=abc") == "password: '***', token=***"
    assert redact("x" * 50, limit=10) == "x" * 9 + "…"


@pytest.mark.parametrize(
    ("alert", "gist"),
    [
        (
            Alert(
                kind=AlertKind.TOO_LONG,
                task_name="t",
                at=T0,
                run=make_run(),
                elapsed=3725.0,
                threshold=3600.0,
            ),
            "已运行：1 小时 2 分钟 5 秒",
        ),
        (
            Alert(kind=AlertKind.LATE, task_name="t", at=T0, run=make_run(), elapsed=360.0),
            "已等待：6 分钟",
        ),
        (
            Alert(
                kind=AlertKind.MISSED,
                task_name="t",
                at=T0,
                run=make_run(status=RunStatus.MISSED, reason="later than misfire grace 300 s"),
            ),
            "later than misfire grace 300 s",
        ),
        (
            Alert(kind=AlertKind.RECOVERED, task_name="t", at=T0, run=make_run(), count=3),
            "连续失败次数：3",
        ),
    ],
)
def test_template_fields_carry_the_gist_of_each_kind(alert: Alert, gist: str) -> None:
    fields = render(alert, CTX).fields
    assert fields["message"] == gist
    assert fields["task"] == "t" and fields["run"] == "r1" and fields["run_id"] == "r1"
    assert fields["time"] == "05-02 02:00" and fields["count"] == str(alert.count)


def test_masks_stay_masks_in_markdown() -> None:
    """An audit: ``***`` in a Markdown body is emphasis markup, so e-mail showed
    ``mongodb://app:@db:27017 unreachable token=`` with the rest in italics. The body
    escapes it; rendered (apprise turns Markdown into HTML with python-markdown) it reads
    as written."""
    import markdown

    run = make_run(
        status=RunStatus.FAILED,
        finished_at=T0 + timedelta(seconds=9),
        error={
            "type": "ConnectionError",
            "message": "mongodb://app:pw12345@db unreachable token=abc123secret",
        },
    )
    alert = Alert(kind=AlertKind.FAILED, task_name="sync*all", at=T0, run=run)
    body = render(alert, MessageContext(language="en", timezone="UTC"), "markdown").body
    html = markdown.markdown(body)
    assert "mongodb://app:***@db unreachable token=***" in html
    assert "sync*all" in html
    assert "<em>" not in html


@pytest.mark.parametrize(
    ("reason", "zh"),
    [
        ("12.5 s late, over misfire_grace_time 1 s", "晚了 12.5 秒，超过错过宽限时间 1 秒"),
        (
            "overlap policy skip: 1 run(s) still active (max_instances=1)",
            "重叠策略跳过：仍有 1 次运行未结束（最大并发 1）",
        ),
        (
            "overlap policy queue_one: one run is already queued; 2 run(s) still active "
            "(max_instances=2)",
            "已跳过：已有一次运行在排队；仍有 2 次运行未结束（最大并发 2）",
        ),
    ],
)
def test_a_missed_fire_s_reason_is_in_the_alert_s_language(reason: str, zh: str) -> None:
    """An audit: a Chinese alert gave the reason in English ("12.5 s late, over
    misfire_grace_time 1 s"): the engine stores it as English text."""
    run = make_run(status=RunStatus.MISSED, reason=reason)
    alert = Alert(kind=AlertKind.MISSED, task_name="contract_expiry_check", at=T0, run=run)
    assert f"原因：{zh}" in render(alert, CTX).body
    assert f"Reason: {reason}" in render(alert, MessageContext(language="en")).body


@pytest.mark.parametrize(
    ("reason", "zh", "en"),
    [
        (
            no_task_reason("contract_expiry_check"),
            "原因：任务 contract_expiry_check 未在任何在线节点上注册",
            "Reason: task 'contract_expiry_check' is not registered on any live node",
        ),
        (
            no_labels_reason(("gpu",)),
            "原因：没有在线节点提供此运行所需的标签 gpu",
            "Reason: no live node offers the labels gpu this run requires",
        ),
    ],
)
def test_a_late_run_no_node_can_take_says_why(reason: str, zh: str, en: str) -> None:
    """The reason the monitor gives a run no live node can take (schedkit.waiting): its
    task registered on none of them, or its labels offered by none."""
    run = make_run(status=RunStatus.PENDING, started_at=None, labels=("gpu",), reason=reason)
    alert = Alert(kind=AlertKind.LATE, task_name=run.task_name, at=T0, run=run, elapsed=360.0)
    assert zh in render(alert, CTX).body
    assert en in render(alert, MessageContext(language="en")).body


def test_a_late_run_with_labels_and_another_reason_is_not_said_to_lack_a_node() -> None:
    """A run handed back (its reason says so) waits for a slot like any other: its labels
    are no reason."""
    run = make_run(
        status=RunStatus.PENDING, started_at=None, labels=("gpu",), reason="the node drained"
    )
    alert = Alert(kind=AlertKind.LATE, task_name=run.task_name, at=T0, run=run, elapsed=360.0)
    assert "labels" not in render(alert, MessageContext(language="en")).body
