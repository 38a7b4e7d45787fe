"""The ``[alerts]`` section: shape, defaults, per-task overrides and precise errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schedkit import SchedkitConfig
from schedkit.alerts.config import AlertKind, AlertsSettings, RuleOverride, parse_task_rules
from schedkit.errors import ConfigError
from schedkit.monitor import Monitor

DOCS = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"


def toml_blocks() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)


def test_the_documented_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "schedkit.toml"
    path.write_text(toml_blocks()[0], encoding="utf-8")
    config = SchedkitConfig.load(path)
    settings = AlertsSettings.from_config(config)
    assert settings.active and settings.language == "zh"
    assert settings.timezone == "Asia/Shanghai"
    assert settings.base_url == "https://scheduler.example.com"
    assert [c.name for c in settings.channels] == [
        "dingtalk",
        "wecombot",
        "feishu",
        "mailtos",
        "json",
    ]
    assert settings.channels[0].body_format == "markdown"
    assert settings.channels[1].body_format == "text"
    assert settings.rules.too_long == 3600 and settings.rules.reminder_interval == 3600
    report = settings.rules_for("report_daily")
    assert report.failed is False and report.consecutive_failures == 3
    assert report.channels == ["dingtalk", "mailtos"]
    assert settings.rules_for("other").channels is None


def test_every_documented_block_parses() -> None:
    import tomllib

    blocks = toml_blocks()
    assert len(blocks) >= 3
    for block in blocks:
        data = tomllib.loads(block)
        if "alerts" in data:
            AlertsSettings.parse({k: v for k, v in data["alerts"].items()})


def test_channel_names_and_routing() -> None:
    s = AlertsSettings.parse(
        {
            "channels": [
                "json://h/a",
                "json://h/b",
                {"url": "dingtalk://t/", "name": "ops", "kinds": ["failed"]},
            ],
            "tasks": {"t": {"channels": ["ops", "json-2"]}},
        }
    )
    assert [c.name for c in s.channels] == ["json", "json-2", "ops"]
    assert s.channels[2].kinds == [AlertKind.FAILED]
    with pytest.raises(ConfigError, match=r"alerts: .*tasks\.t\.channels: no channel named 'nope'"):
        AlertsSettings.parse({"channels": ["json://h/a"], "tasks": {"t": {"channels": ["nope"]}}})
    with pytest.raises(ConfigError, match="channel name 'x' is used twice"):
        AlertsSettings.parse(
            {"channels": [{"url": "json://a", "name": "x"}, {"url": "json://b", "name": "x"}]}
        )


def test_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"alerts\.rules\.too_long: .*greater than or equal to 0"):
        AlertsSettings.parse({"rules": {"too_long": -1}})
    with pytest.raises(ConfigError, match=r"alerts\.language: "):
        AlertsSettings.parse({"language": "fr"})
    with pytest.raises(
        ConfigError, match=r"alerts\.rules\.typo: unknown key 'typo' \(accepted: failed,"
    ):
        AlertsSettings.parse({"rules": {"typo": 1}})
    with pytest.raises(ConfigError, match=r"alerts\.channels\.0\.url: .*apprise URL"):
        AlertsSettings.parse({"channels": ["not a url"]})
    with pytest.raises(ConfigError, match="unknown timezone"):
        AlertsSettings.parse({"timezone": "Mars/Olympus"})


def test_defaults_come_from_the_rest_of_the_config() -> None:
    config = SchedkitConfig(
        timezone="UTC",
        api={"base_url": "http://console"},
        alerts={"enabled": True, "channels": ["json://h/"]},
    )
    s = AlertsSettings.from_config(config)
    assert s.timezone == "UTC" and s.base_url == "http://console"
    default = AlertsSettings()
    assert not default.active and default.rules.too_long == 3600  # the document's default


def test_task_class_rules_between_global_and_config() -> None:
    s = AlertsSettings.parse(
        {"rules": {"too_long": 100}, "tasks": {"t": {"consecutive_failures": 5}}}
    )
    from_class = parse_task_rules({"too_long": 10, "consecutive_failures": 2}, "t")
    assert isinstance(from_class, RuleOverride)
    rules = s.rules_for("t", from_class)
    assert rules.too_long == 10 and rules.consecutive_failures == 5
    with pytest.raises(ConfigError, match=r"t\.alert_rules\.too_long"):
        parse_task_rules({"too_long": "soon"}, "t")


def test_monitor_from_config_checks_channels_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCHEDKIT_TEST_NO_SUCH_TOKEN", raising=False)
    config = SchedkitConfig(
        alerts={"enabled": True, "channels": ["wecombot://${SCHEDKIT_TEST_NO_SUCH_TOKEN}"]}
    )
    with pytest.raises(ConfigError, match="SCHEDKIT_TEST_NO_SUCH_TOKEN"):
        Monitor.from_config(config)
    monkeypatch.setenv("SCHEDKIT_TEST_NO_SUCH_TOKEN", "abc-123")
    assert Monitor.from_config(config).settings.active
