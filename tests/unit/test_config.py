"""Configuration: defaults, TOML + environment precedence, the document's shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from schedkit import ConfigError, SchedkitConfig
from schedkit.alerts.config import AlertsSettings


def test_defaults_follow_the_document() -> None:
    c = SchedkitConfig()
    assert c.timezone == "Asia/Shanghai"
    assert c.store_url.startswith("sqlite:///")
    assert c.executor.max_workers == 20
    assert (
        c.job_defaults.coalesce,
        c.job_defaults.max_instances,
        c.job_defaults.misfire_grace_time,
    ) == (True, 3, 300)


def test_toml_under_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "schedkit.toml"
    path.write_text(
        'timezone = "Europe/Berlin"\n[executor]\nmax_workers = 8\npoll_interval = 2.0\n'
    )
    monkeypatch.setenv("SCHEDKIT_EXECUTOR__MAX_WORKERS", "4")
    c = SchedkitConfig.load(path)
    assert c.timezone == "Europe/Berlin"
    assert c.executor.max_workers == 4  # environment wins
    assert c.executor.poll_interval == 2.0  # the file's other keys stay


def test_errors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('timezone = "Mars/Base"\n[executor]\nmax_wrokers = 3\n')
    with pytest.raises(ConfigError) as err:
        SchedkitConfig.load(path)
    assert "timezone" in str(err.value) and "executor.max_wrokers" in str(err.value)
    with pytest.raises(ConfigError, match="does not exist"):
        SchedkitConfig.load(tmp_path / "missing.toml")


def test_a_mistyped_timezone_names_the_zone_meant(tmp_path: Path) -> None:
    """An audit: ``unknown timezone 'Asia/Shangai'`` came without the "did you mean" a
    mistyped key gets; in the node's configuration, the alerts' and a schedule's."""
    path = tmp_path / "tz.toml"
    path.write_text('timezone = "Asia/Shangai"\n')
    meant = "unknown timezone 'Asia/Shangai'; did you mean 'Asia/Shanghai'?"
    with pytest.raises(ConfigError) as err:
        SchedkitConfig.load(path)
    assert str(err.value).endswith(f"timezone: Value error, {meant}")
    with pytest.raises(ConfigError) as err:
        AlertsSettings.parse({"timezone": "Europe/Londn"})
    assert "did you mean 'Europe/London'?" in str(err.value)
    # An offset is spelt like UTC or GMT+0, hours away from it: no guess.
    for offset in ("UTC+8", "GMT+8"):
        with pytest.raises(ConfigError) as err:
            SchedkitConfig(timezone=offset)
        assert str(err.value).endswith(f"unknown timezone {offset!r}")
    with pytest.raises(ConfigError) as err:
        SchedkitConfig(timezone="Mars/Base")
    assert str(err.value).endswith("unknown timezone 'Mars/Base'")


def test_a_mistyped_api_key_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An audit: ``[api] metrics_publc = true`` passed ``schedkit check`` and left
    /metrics behind a token; the security knobs of [api] could all be mistyped."""
    path = tmp_path / "api.toml"
    path.write_text("[api]\nmetrics_publc = true\n")
    with pytest.raises(ConfigError, match=r"api\.metrics_publc"):
        SchedkitConfig.load(path)
    monkeypatch.setenv("SCHEDKIT_API__MAX_BODY", "10")
    with pytest.raises(ConfigError, match="SCHEDKIT_API__MAX_BODY"):
        SchedkitConfig()


def test_a_store_url_given_as_the_config_file_says_where_it_belongs() -> None:
    """``Scheduler("sqlite:///x.db")`` (a store URL where a config path goes) said only
    that no such config file exists."""
    with pytest.raises(ConfigError, match=r"that is a store URL.*store_url"):
        SchedkitConfig.load("sqlite:///x.db")


def test_document_config_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDKIT_STORE_URL", "mongodb://db.internal:27017")
    c = SchedkitConfig.from_document(
        {
            "timezone": "Asia/Shanghai",
            "jobstores": {
                "default": {"type": "mongodb", "database": "exds", "collection": "scheduler_jobs"}
            },
            "executors": {"default": {"type": "threadpool", "max_workers": 20}},
            "job_defaults": {"coalesce": True, "max_instances": 3, "misfire_grace_time": 300},
            "alerts": {"enabled": True, "channels": ["email", "webhook"]},
        }
    )
    assert c.store_url == "mongodb://db.internal:27017"
    assert c.store_options == {"database": "exds", "collections": {"schedules": "scheduler_jobs"}}
    assert c.executor.max_workers == 20
    assert c.alerts.enabled


def test_document_config_takes_the_other_keys_as_native_ones() -> None:
    """A first user's finding: the design document's dict with ``task_packages`` (where
    the README says to list them) started a node with no task, and a misspelt key
    (``executer``) was ignored: every key but the document's own was dropped."""
    document = {
        "jobstores": {"default": {"type": "sqlalchemy", "url": "sqlite:///x.db"}},
        "executors": {"default": {"max_workers": 5}},
        "task_packages": ["myapp.tasks"],
        "scheduler": {"lease_ttl": 10},
        "executor": {"max_concurrent_runs": 7},
    }
    c = SchedkitConfig.from_document(document)
    assert c.task_packages == ["myapp.tasks"] and c.scheduler.lease_ttl == 10
    assert (c.executor.max_workers, c.executor.max_concurrent_runs) == (5, 7)
    with pytest.raises(
        ConfigError, match=r"executer: unknown key 'executer' \(did you mean 'executor'\?\)"
    ):
        SchedkitConfig.from_document({**document, "executer": {"max_workers": 5}})


def _keys(model: type, prefix: str = "") -> list[str]:
    from pydantic import BaseModel

    out = []
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(_keys(ann, f"{prefix}{name}."))
        else:
            out.append(f"{prefix}{name}")
    return out


def test_reference_documents_every_key_and_its_example_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    for key in _keys(SchedkitConfig):
        section, _, name = key.rpartition(".")
        if section:
            assert f"[{section}]" in doc, f"section [{section}] undocumented"
        assert f"`{name}`" in doc, f"{key} undocumented"
    example = re.search(r"```toml\n(.*?)```", doc, re.S)
    assert example
    path = tmp_path / "schedkit.toml"
    path.write_text(example.group(1))
    # "with SCHEDKIT_STORE_URL=mongodb://... in the environment", as the example says;
    # without it, the error that says so (test_options_of_another_kind_of_store...).
    monkeypatch.setenv("SCHEDKIT_STORE_URL", "mongodb://app:secret@mongo.internal:27017")
    config = SchedkitConfig.load(path)
    assert config.store_options["database"] == "exds"
    assert config.alerts.enabled


def test_options_of_another_kind_of_store_name_it_the_url_used_and_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audit: docs/configuration.md's example (MongoDB store_options in the file, the
    URL in the environment) with the variable forgotten said "unknown SQL store option(s)
    database; known: busy_timeout, ...": the default SQLite URL in use went unsaid."""
    path = tmp_path / "schedkit.toml"
    path.write_text('store_options = { database = "exds" }\n')
    with pytest.raises(ConfigError) as err:
        SchedkitConfig.load(path)
    said = str(err.value)
    assert said.startswith("store_options holds MongoDB store options (database), but the ")
    assert "store URL sqlite:///schedkit.db (the default: store_url is not set) " in said
    assert "names a SQL store: set SCHEDKIT_STORE_URL (or store_url) to the MongoDB" in said
    assert "unknown" not in said

    monkeypatch.setenv("SCHEDKIT_STORE_URL", "sqlite:///app.db")
    with pytest.raises(ConfigError, match=r"sqlite:///app.db \(from environment variable "):
        SchedkitConfig.load(path)
    monkeypatch.delenv("SCHEDKIT_STORE_URL")
    path.write_text('store_url = "sqlite:///app.db"\nstore_options = { database = "exds" }\n')
    with pytest.raises(ConfigError, match=rf"sqlite:///app.db \(from {path}\) names a SQL"):
        SchedkitConfig.load(path)
    with pytest.raises(ConfigError, match=r"mongodb://h:27017 \(given as an argument\) names"):
        SchedkitConfig(store_url="mongodb://h:27017", store_options={"table_prefix": "x_"})
    # The other way round, password masked; and no kind at all: left to the store.
    with pytest.raises(ConfigError) as err:
        SchedkitConfig(store_url="mongodb://u:pw@h/db", store_options={"busy_timeout": 5})
    assert "SQL store options (busy_timeout), but the store URL mongodb://u:***@h/db" in str(
        err.value
    )
    assert SchedkitConfig(store_options={"databse": "x"}).store_options == {"databse": "x"}
    assert SchedkitConfig(store_options={"table_prefix": "x_"}).store_options


def test_create_store_names_options_of_another_kind_of_store(tmp_path: Path) -> None:
    from schedkit.store import create_store
    from schedkit.store.mongo.base import MongoBase
    from schedkit.store.options import MONGO_OPTIONS

    url = f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(ConfigError, match=r"holds MongoDB store options \(collections, database\)"):
        create_store(url, database="x", collections={})
    with pytest.raises(ConfigError, match="unknown SQL store option"):
        create_store(url, databse="x")  # a typo: the options the store knows
    # The names the message goes by are the MongoDB store's (known without pymongo).
    import inspect

    params = inspect.signature(MongoBase.__init__).parameters
    assert {n for n, p in params.items() if p.kind is p.KEYWORD_ONLY} == MONGO_OPTIONS


def test_document_mongodb_without_any_url_warns_naming_the_url_and_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An audit: the document's dict with a mongodb jobstore and no SCHEDKIT_STORE_URL
    used mongodb://localhost:27017 without a word."""
    monkeypatch.delenv("SCHEDKIT_STORE_URL", raising=False)
    document = {"jobstores": {"default": {"type": "mongodb", "database": "exds"}}}
    config = SchedkitConfig.from_document(document)
    assert config.store_url == "mongodb://localhost:27017"
    (warning,) = config.warnings
    assert "the store is mongodb://localhost:27017" in warning
    assert "set SCHEDKIT_STORE_URL (or jobstores.default.url)" in warning
    monkeypatch.setenv("SCHEDKIT_STORE_URL", "mongodb://db.internal:27017")
    assert SchedkitConfig.from_document(document).warnings == []
    monkeypatch.delenv("SCHEDKIT_STORE_URL")
    given = {"jobstores": {"default": {"type": "mongodb", "url": "mongodb://db:27017"}}}
    assert SchedkitConfig.from_document(given).warnings == []
    assert SchedkitConfig.from_document(document, store_url="mongodb://x:1").warnings == []


@pytest.mark.parametrize(
    ("value", "labels"),
    [
        ("gpu,reports", ["gpu", "reports"]),
        ("gpu", ["gpu"]),
        ('["gpu", "reports"]', ["gpu", "reports"]),
    ],
)
def test_node_labels_from_the_environment_as_documented(
    monkeypatch: pytest.MonkeyPatch, value: str, labels: list[str]
) -> None:
    """Hole: the documented ``SCHEDKIT_EXECUTOR__LABELS=gpu,reports`` (and a single label)
    failed every command with pydantic-settings' "error parsing value" (it read the
    value as JSON first); only a JSON list worked."""
    monkeypatch.setenv("SCHEDKIT_EXECUTOR__LABELS", value)
    assert SchedkitConfig.load().executor.labels == labels


def test_lists_from_the_environment_take_commas_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDKIT_TASK_PACKAGES", "myapp.tasks, reports.jobs")
    monkeypatch.setenv("SCHEDKIT_EXTENSIONS", '["proj.celery:bridge"]')
    monkeypatch.setenv("SCHEDKIT_EXECUTOR__TASKS", "report_daily")
    c = SchedkitConfig.load()
    assert c.task_packages == ["myapp.tasks", "reports.jobs"]
    assert c.extensions == ["proj.celery:bridge"]
    assert c.executor.tasks == ["report_daily"]


def test_an_environment_value_that_is_not_json_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A table (dict) from the environment must be JSON: the error says which variable
    and how to write it, as a ConfigError, not pydantic-settings' SettingsError."""
    monkeypatch.setenv("SCHEDKIT_STORE_OPTIONS", "database=exds")
    with pytest.raises(ConfigError) as err:
        SchedkitConfig.load()
    assert "SCHEDKIT_STORE_OPTIONS" in str(err.value)
    assert "JSON" in str(err.value)
    monkeypatch.delenv("SCHEDKIT_STORE_OPTIONS")
    monkeypatch.setenv("SCHEDKIT_EXTENSIONS", "[broken")
    with pytest.raises(ConfigError, match=r"extensions: .*not a JSON list"):
        SchedkitConfig.load()


def test_a_bad_environment_value_names_the_variable_from_every_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``SchedkitConfig()`` raised pydantic-settings' SettingsError for a table that is
    not JSON, and a value of the wrong type was named by its key, not by the variable
    the user has to fix."""
    monkeypatch.setenv("SCHEDKIT_STORE_OPTIONS", "{bad")
    with pytest.raises(ConfigError, match="SCHEDKIT_STORE_OPTIONS"):
        SchedkitConfig()
    monkeypatch.delenv("SCHEDKIT_STORE_OPTIONS")
    monkeypatch.setenv("SCHEDKIT_EXECUTOR__MAX_WORKERS", "abc")
    for read in (SchedkitConfig, SchedkitConfig.load):
        with pytest.raises(ConfigError) as err:
            read()
        assert str(err.value) == (
            "environment variable SCHEDKIT_EXECUTOR__MAX_WORKERS: executor.max_workers: "
            "Input should be a valid integer, unable to parse string as an integer"
        )
    # An argument wins over the environment: its own bad value is named as the key.
    with pytest.raises(ConfigError) as err:
        SchedkitConfig(executor={"max_workers": "xyz"})
    assert "SCHEDKIT_" not in str(err.value) and "executor.max_workers" in str(err.value)


def test_a_bad_value_in_the_file_names_the_file_not_a_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "schedkit.toml"
    path.write_text("[executor]\nmax_workers = 0\n")
    monkeypatch.setenv("SCHEDKIT_EXECUTOR__POLL_INTERVAL", "2")  # a good value beside it
    with pytest.raises(ConfigError) as err:
        SchedkitConfig.load(path)
    assert str(err.value).startswith(f"{path}: executor.max_workers: ")


def test_null_in_the_environment_unsets_an_optional_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An audit: ``misfire_grace_time`` (300 by default, ``None``: no limit) could not be
    turned off from the environment: ``null`` was read as a number and refused, and no
    other spelling reached ``None``."""
    monkeypatch.setenv("SCHEDKIT_JOB_DEFAULTS__MISFIRE_GRACE_TIME", "null")
    monkeypatch.setenv("SCHEDKIT_EXECUTOR__TASKS", "null")
    config = SchedkitConfig.load()
    assert config.job_defaults.misfire_grace_time is None
    assert config.executor.tasks is None  # all tasks, not one named "null"
    # A setting that cannot be unset says so, naming the variable.
    monkeypatch.setenv("SCHEDKIT_STORE_URL", "null")
    with pytest.raises(ConfigError) as err:
        SchedkitConfig.load()
    assert str(err.value).startswith("environment variable SCHEDKIT_STORE_URL: store_url: ")
    assert "null unsets only" in str(err.value)


@pytest.mark.parametrize("value", ["700,10,10", "700, 10, 10", "[700, 10, 10]"])
def test_gc_thresholds_from_the_environment_take_commas_or_json(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """An audit: ``SCHEDKIT_SCHEDULER__GC_THRESHOLD=700,10,10``, a list written the way
    docs/configuration.md writes lists in the environment, failed with "a table (or a
    list of tables) given in the environment must be JSON", naming no variable."""
    monkeypatch.setenv("SCHEDKIT_SCHEDULER__GC_THRESHOLD", value)
    assert SchedkitConfig.load().scheduler.gc_threshold == (700, 10, 10)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("700,10", "three thresholds"),
        ("700,ten,10", "scheduler.gc_threshold.1: Input should be a valid integer"),
        ("[700,10", "not a JSON list"),
    ],
)
def test_bad_gc_thresholds_from_the_environment_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("SCHEDKIT_SCHEDULER__GC_THRESHOLD", value)
    with pytest.raises(ConfigError) as err:
        SchedkitConfig.load()
    assert str(err.value).startswith("environment variable SCHEDKIT_SCHEDULER__GC_THRESHOLD: ")
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("variable", "meant"),
    [
        ("SCHEDKIT_SCHEDULR__LEASE_TTL", "did you mean SCHEDKIT_SCHEDULER__LEASE_TTL?"),
        ("SCHEDKIT_STORE_ULR", "did you mean SCHEDKIT_STORE_URL?"),
        ("schedkit_executr__max_workers", "did you mean SCHEDKIT_EXECUTOR__MAX_WORKERS?"),
        ("SCHEDKIT_RETRIES__MAX", "no section 'retries'; sections: alerts, api, cluster"),
        ("SCHEDKIT_TIMEZONE__NAME", "timezone takes no sub-key"),
    ],
)
def test_a_mistyped_variable_is_an_error_naming_the_close_names(
    monkeypatch: pytest.MonkeyPatch, variable: str, meant: str
) -> None:
    """An audit: ``SCHEDKIT_SCHEDULR__LEASE_TTL=5`` (SCHEDULER mistyped) was ignored
    without a word, so the default lease stayed in force: pydantic-settings reads only
    the variables of known keys."""
    monkeypatch.setenv(variable, "5")
    with pytest.raises(ConfigError) as err:
        SchedkitConfig.load()
    assert str(err.value).startswith(f"environment variable {variable} names no setting")
    assert meant in str(err.value)


def test_another_schedkit_variable_is_a_warning_unless_the_config_uses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name far from every setting may be the operator's own variable: a warning (a
    node logs it, ``check`` lists it), and none for one a channel names as ``${NAME}``."""
    monkeypatch.setenv("SCHEDKIT_DB_URL", "postgresql://db/x")
    monkeypatch.setenv("SCHEDKIT_DINGTALK_TOKEN", "secret")
    config = SchedkitConfig.load(alerts={"channels": ["dingtalk://${SCHEDKIT_DINGTALK_TOKEN}/"]})
    (warning,) = config.warnings
    assert warning.startswith("environment variable SCHEDKIT_DB_URL names no setting")
    assert "secret" not in warning


def test_no_schedkit_variable_of_the_repository_is_taken_for_a_typo() -> None:
    """Every ``SCHEDKIT_*`` name the code, docs, scripts and tests use (the CLI's
    ``SCHEDKIT_CONFIG``, CI's ``SCHEDKIT_TEST_*``...) is read without an error or a
    warning: CI sets them where configurations are read. Names written as typos on
    purpose (in these tests) are left out."""
    import re

    repo = Path(__file__).resolve().parents[2]
    on_purpose = {"SCHEDKIT_SCHEDULR__LEASE_TTL", "SCHEDKIT_STORE_ULR", "SCHEDKIT_DB_URL"}
    on_purpose |= {"SCHEDKIT_RETRIES__MAX", "SCHEDKIT_TIMEZONE__NAME", "SCHEDKIT_DINGTALK_TOKEN"}
    on_purpose.add("SCHEDKIT_SYSTEMS")  # a constant of bench/systems.py, no variable
    on_purpose.add("SCHEDKIT_STORE")  # meant SCHEDKIT_STORE_URL (docs/configuration.md)
    names: set[str] = set()
    for folder in ("src", "docs", "scripts", "bench", "examples", "tests", ".ci"):
        for path in (repo / folder).rglob("*"):
            if path.is_file() and path.suffix in {".py", ".md", ".sh", ".toml", ".yml", ""}:
                text = path.read_text(encoding="utf-8", errors="replace")
                names |= set(re.findall(r"\bSCHEDKIT_[A-Z0-9_]*[A-Z0-9]\b", text))
    from schedkit._config_checks import stray_variables
    from schedkit.config import _sections

    environ = dict.fromkeys(names - on_purpose, "1")
    errors, warnings = stray_variables(environ, SchedkitConfig.model_fields, _sections(), "")
    assert (errors, warnings) == ([], [])
    assert {"SCHEDKIT_CONFIG", "SCHEDKIT_TEST_POSTGRES_URL", "SCHEDKIT_DEBUG"} <= names


def test_a_store_password_in_the_file_is_a_warning_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audit: ``store_url = "postgresql://app:hunter2@db/x"`` in the file, against
    "Secrets never go in the file", drew no word; a URL without a password draws none."""
    path = tmp_path / "schedkit.toml"
    path.write_text('store_url = "postgresql://app:hunter2@db.internal/x"\n')
    (warning,) = SchedkitConfig.load(path).warnings
    assert warning.startswith(f"{path}: store_url holds a password")
    assert "postgresql://app:***@db.internal/x" in warning
    assert "SCHEDKIT_STORE_URL" in warning and "hunter2" not in warning
    # Still there when the environment overrides it: the secret sits in the file.
    monkeypatch.setenv("SCHEDKIT_STORE_URL", "postgresql://app:s3cret@db.internal/x")
    assert len(SchedkitConfig.load(path).warnings) == 1
    path.write_text('store_url = "postgresql://app@db.internal/x"\n')
    assert SchedkitConfig.load(path).warnings == []


def test_an_unknown_key_names_the_key_meant_in_every_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audit: ``executor.max_wrokers`` and ``task_package`` were refused as "Extra
    inputs are not permitted", where a mistyped ``SCHEDKIT_*`` variable gets "did you
    mean". A key close to none is refused with the keys the section accepts."""
    path = tmp_path / "typos.toml"
    path.write_text('task_package = ["a"]\n[executor]\nmax_wrokers = 3\n[cluster]\ncolour = 1\n')
    with pytest.raises(ConfigError) as err:
        SchedkitConfig.load(path)
    assert str(err.value) == (
        f"{path}: executor.max_wrokers: unknown key 'max_wrokers' (did you mean "
        "'max_workers'?); cluster.colour: unknown key 'colour' (accepted: notify, "
        "redis_url, poll_interval); task_package: unknown key 'task_package' (did you "
        "mean 'task_packages'?)"
    )
    monkeypatch.setenv("SCHEDKIT_SCHEDULER", '{"lease_tll": 5}')
    with pytest.raises(ConfigError) as err:
        SchedkitConfig()
    assert str(err.value) == (
        "environment variable SCHEDKIT_SCHEDULER: scheduler.lease_tll: unknown key "
        "'lease_tll' (did you mean 'lease_ttl'?)"
    )
    monkeypatch.delenv("SCHEDKIT_SCHEDULER")
    with pytest.raises(ConfigError, match=r"api\.prot: unknown key 'prot' \(did you mean 'port'"):
        SchedkitConfig.from_document({"api": {"prot": 80}})
    with pytest.raises(ConfigError, match=r"alerts\.rules\.lost_run: unknown key 'lost_run' "):
        AlertsSettings.parse({"rules": {"lost_run": True}})


def test_lost_after_at_or_under_the_heartbeat_interval_is_refused_naming_both_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An on-call audit: ``lost_after = 1`` with ``heartbeat_interval = 5`` was taken;
    nodes then looked dead between heartbeats (the CLI said no service ran while one
    did) and the reaper judged live runs lost. Refused; a small margin is a warning."""
    path = tmp_path / "schedkit.toml"
    path.write_text("[scheduler]\nlost_after = 1\nheartbeat_interval = 5\n")
    with pytest.raises(ConfigError) as refused:
        SchedkitConfig.load(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: scheduler.lost_after (1 s) must be longer than ")
    assert "scheduler.heartbeat_interval (5 s)" in message
    with pytest.raises(ConfigError, match=r"lost_after \(3 s\) must be longer"):
        SchedkitConfig(scheduler={"lost_after": 3, "heartbeat_interval": 3})
    monkeypatch.setenv("SCHEDKIT_SCHEDULER__LOST_AFTER", "2")
    with pytest.raises(ConfigError) as from_env:
        SchedkitConfig.load(path)
    assert str(from_env.value).startswith(
        f"environment variable SCHEDKIT_SCHEDULER__LOST_AFTER, {path}: scheduler.lost_after (2 s)"
    )
    monkeypatch.delenv("SCHEDKIT_SCHEDULER__LOST_AFTER")

    path.write_text("[scheduler]\nlost_after = 10\nheartbeat_interval = 5\n")
    (warning,) = SchedkitConfig.load(path).warnings
    assert warning.startswith("scheduler.lost_after (10 s) is under 3 times")
    assert "scheduler.heartbeat_interval (5 s)" in warning
    path.write_text("[scheduler]\nlost_after = 15\nheartbeat_interval = 5\n")
    assert SchedkitConfig.load(path).warnings == []
    assert SchedkitConfig().warnings == []  # the defaults: 20 s and 3 s


def test_node_expiry_at_or_under_the_heartbeat_interval_is_refused_naming_both_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``node_expiry = 2`` with ``heartbeat_interval = 5`` was taken: the leader removed
    live nodes from the node list between two of their beats (unlisted, a drain of one
    refused as unknown). Refused as ``lost_after`` is; under ``lost_after`` a warning."""
    path = tmp_path / "schedkit.toml"
    path.write_text("[scheduler]\nnode_expiry = 2\nheartbeat_interval = 5\nlost_after = 20\n")
    with pytest.raises(ConfigError) as refused:
        SchedkitConfig.load(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: scheduler.node_expiry (2 s) must be longer than ")
    assert "scheduler.heartbeat_interval (5 s)" in message
    with pytest.raises(ConfigError, match=r"node_expiry \(3 s\) must be longer"):
        SchedkitConfig(scheduler={"node_expiry": 3, "heartbeat_interval": 3})
    monkeypatch.setenv("SCHEDKIT_SCHEDULER__NODE_EXPIRY", "1")
    with pytest.raises(ConfigError) as from_env:
        SchedkitConfig.load(path)
    assert str(from_env.value).startswith(
        f"environment variable SCHEDKIT_SCHEDULER__NODE_EXPIRY, {path}: scheduler.node_expiry (1 s)"
    )
    monkeypatch.delenv("SCHEDKIT_SCHEDULER__NODE_EXPIRY")

    path.write_text("[scheduler]\nnode_expiry = 10\nheartbeat_interval = 5\nlost_after = 20\n")
    (warning,) = SchedkitConfig.load(path).warnings
    assert warning.startswith("scheduler.node_expiry (10 s) is shorter than ")
    assert "scheduler.lost_after (20 s)" in warning
    path.write_text("[scheduler]\nnode_expiry = 20\nheartbeat_interval = 5\nlost_after = 20\n")
    assert SchedkitConfig.load(path).warnings == []


def test_a_lease_ttl_under_refresh_interval_is_accepted() -> None:
    """Not a broken relation: the lease is renewed every third of ``lease_ttl`` by a task
    of its own, whatever ``refresh_interval`` (tests/engine/test_cluster.py shows a
    leader keeping its lease so), so a configuration with it is taken without a word."""
    config = SchedkitConfig(scheduler={"lease_ttl": 1, "refresh_interval": 5})
    assert config.scheduler.lease_ttl == 1 and config.warnings == []
