"""``schedkit alerts test``: a test message to the configuration's alert channels, sent
from here; each channel's outcome, exit 1 if one did not deliver it. A real HTTP
receiver and a refused port whose URL holds a secret."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.cli.conftest import Cli, one_error_line
from tests.monitoring.conftest import Receiver, free_port, receiving

#: Stands for a channel's secret: the output must never show it.
SECRET = "hunter2-5d1e8b"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as box:
        yield box


def alerts_on(cli: Cli, *channels: str, language: str = "en") -> None:
    listed = ", ".join(channels)
    cli.config.write_text(
        f'node_name = "cli-box"\n{cli.config.read_text()}\n[alerts]\nenabled = true\n'
        f'language = "{language}"\nchannels = [{listed}]\n'
        "[alerts.delivery]\ntimeout = 1\nretries = 2\nretry_delay = 5\n",
        encoding="utf-8",
    )


def hook(receiver: Receiver, name: str = "ops-hook") -> str:
    return f'{{name = "{name}", url = "json://127.0.0.1:{receiver.port}/hook"}}'


DEAD = f'{{name = "dead", url = "json://ops:{SECRET}@127.0.0.1:{free_port()}/hook"}}'


def test_every_channel_delivers(cli: Cli, receiver: Receiver) -> None:
    alerts_on(cli, hook(receiver))
    result = cli("alerts", "test")
    assert result.exit_code == 0, result.output
    assert "schedkit test alert from node cli-box at " in result.stdout
    assert "(Asia/Shanghai):" in result.stdout
    assert "ops-hook" in result.stdout and "delivered" in result.stdout
    (request,) = receiver.on("/hook")
    assert request.json()["title"].startswith("[TEST] schedkit test alert from node cli-box at ")
    zh = cli("--lang", "zh", "alerts", "test", "--channel", "ops-hook")
    assert zh.exit_code == 0, zh.output
    assert "schedkit 测试告警：来自节点 cli-box" in zh.stdout and "已送达" in zh.stdout


def test_a_channel_that_cannot_deliver_exits_1(cli: Cli, receiver: Receiver) -> None:
    alerts_on(cli, hook(receiver), DEAD, language="zh")
    result = cli("alerts", "test", "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["node"] == "cli-box" and data["delivered"] is False
    hooked, dead = data["channels"]
    assert hooked == {"channel": "ops-hook", "scheme": "json", "delivered": True, "error": None}
    assert dead["channel"] == "dead" and dead["delivered"] is False
    assert "Connection error" in dead["error"]
    table = cli("alerts", "test")
    assert table.exit_code == 1
    assert "failed: A Connection error occurred" in table.stdout
    for said in (result.stdout, result.stderr, table.stdout, table.stderr):
        assert SECRET not in said
    # One attempt each: retries (5 s apart here) are for alerts, not for a test.
    assert len(receiver.on("/hook")) == 2


def test_a_channel_no_one_has_is_a_usage_error(cli: Cli, receiver: Receiver) -> None:
    alerts_on(cli, hook(receiver))
    result = cli("alerts", "test", "--channel", "ops-hok")
    assert result.exit_code == 2
    assert one_error_line(result.stderr) == (
        "error: --channel: no alert channel named 'ops-hok'; did you mean 'ops-hook'? "
        "(channels: ops-hook)"
    )
    assert receiver.on("/hook") == []


def test_with_alerts_off_there_is_nothing_to_test(cli: Cli) -> None:
    result = cli("alerts", "test")
    assert result.exit_code == 1
    assert one_error_line(result.stderr).startswith(
        "error: alerts are off (alerts.enabled is false): there is no channel to test"
    )
