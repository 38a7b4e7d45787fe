"""Configuration: one pydantic-settings model, from a TOML file and ``SCHEDKIT_*`` variables.

Precedence: explicit arguments > environment (``SCHEDKIT_STORE_URL``,
``SCHEDKIT_EXECUTOR__MAX_WORKERS`` ...) > TOML file (``SCHEDKIT_CONFIG`` or the path given)
> defaults. The design document's ``SCHEDULER_CONFIG`` dict is accepted by
:meth:`SchedkitConfig.from_document`. Secrets (SMTP passwords, webhook tokens, database
passwords) belong in environment variables, never in the file.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as _SettingsError

from schedkit._config_checks import (
    SAID_BY_COMMAND,
    cli_command,
    file_secrets,
    lost_after_refusal,
    lost_after_warnings,
    node_expiry_refusal,
    node_expiry_warnings,
    stray_variables,
)
from schedkit._suggest import error_message, unknown_timezone
from schedkit.config_sections import (
    AlertsConfig,
    ApiConfig,
    ClusterConfig,
    ExecutorConfig,
    JobDefaults,
    LimitsConfig,
    SchedulerConfig,
    TracingConfig,
    Words,
)
from schedkit.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

_config_path: ContextVar[str | None] = ContextVar("schedkit_config_path", default=None)
#: What a configuration error names as the source of values not from the environment.
_source_name: ContextVar[str | None] = ContextVar("schedkit_config_source", default=None)


#: The config file read when none is named (``--config``, ``$SCHEDKIT_CONFIG``), in the
#: working directory.
DEFAULT_CONFIG_FILE = "schedkit.toml"


def find_config_file() -> str | None:
    """The config file read when none is given: ``$SCHEDKIT_CONFIG``, else
    ``./schedkit.toml`` if present. The CLI and a ``Scheduler`` built without a
    configuration (an embedded app's lifespan) both read it: an app ran with no task on
    the default store while ``schedkit tasks`` in the same folder listed the file's."""
    env = os.environ.get("SCHEDKIT_CONFIG")
    if env:
        return env
    return DEFAULT_CONFIG_FILE if Path(DEFAULT_CONFIG_FILE).is_file() else None


_DOCUMENT_MONGO_URL = "mongodb://localhost:27017"
#: The design document's keys :meth:`SchedkitConfig.from_document` translates.
_DOCUMENT_KEYS = frozenset({"timezone", "jobstores", "executors", "job_defaults", "alerts"})


class SchedkitConfig(BaseSettings):
    """Everything schedkit reads. See docs/configuration.md for every key."""

    model_config = SettingsConfigDict(
        env_prefix="SCHEDKIT_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
        # The one spelling of None in the environment (a variable cannot be absent and
        # set at once): JSON's, as tables and lists there are JSON. Without it
        # ``misfire_grace_time``'s "no limit" could not be given from the environment.
        env_parse_none_str="null",
    )

    timezone: str = "Asia/Shanghai"
    store_url: str = "sqlite:///schedkit.db"
    #: Backend options, e.g. MongoDB ``database`` and ``collections``.
    store_options: dict[str, Any] = Field(default_factory=dict)
    #: Packages scanned recursively for tasks (the document's ``tasks/`` tree).
    task_packages: Words = Field(default_factory=list)
    #: Also load tasks from the ``schedkit.tasks`` entry-point group (plugins).
    entry_points: bool = True
    #: Extensions started with the node, as ``module:attribute`` import paths of
    #: objects (e.g. the Celery bridge: ``"proj.celery:bridge"``, docs/celery.md).
    extensions: Words = Field(default_factory=list)
    #: A stable name for this node in listings (default: host:pid).
    node_name: str | None = None
    #: Directory that the ``data.files`` names of run results are relative to; the API
    #: and console offer those files for download (unset: no downloads).
    result_files_dir: str | None = None
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    job_defaults: JobDefaults = Field(default_factory=JobDefaults)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    tracing: TracingConfig = Field(default_factory=TracingConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    _warnings: list[str] = PrivateAttr(default_factory=list)

    def __init__(self, **values: Any) -> None:
        """Read the configuration (see the class docstring); ConfigError naming the
        environment variable, the file or the key of every value that cannot be read, and
        a ``SCHEDKIT_*`` variable that is a setting's typo (schedkit._config_checks)."""
        from pydantic import ValidationError as PydanticValidationError

        where = _source_name.get() or _config_path.get() or os.environ.get("SCHEDKIT_CONFIG")
        where = where or "configuration"
        try:
            super().__init__(**values)
        except PydanticValidationError as exc:
            raise ConfigError(_format_errors(exc, where, values)) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where} is not valid TOML: {exc}") from None
        except _SettingsError as exc:
            raise ConfigError(_environment_error(exc)) from None
        timing = self.scheduler
        for refusal, key in (
            (lost_after_refusal(timing.lost_after, timing.heartbeat_interval), "lost_after"),
            (node_expiry_refusal(timing.node_expiry, timing.heartbeat_interval), "node_expiry"),
        ):
            if refusal is not None:
                keys = (("scheduler", key), ("scheduler", "heartbeat_interval"))
                variables = [v for v in (_variable_of(k, values) for k in keys) if v is not None]
                given = [f"environment variable {v}" for v in dict.fromkeys(variables)]
                sources = ", ".join(given + [where] * (len(variables) < 2))
                raise ConfigError(f"{sources}: {refusal}")
        if self.store_options:
            from schedkit.store.options import foreign_options

            origin = _store_url_origin(self, values, where)
            wrong = foreign_options(self.store_url, self.store_options, origin)
            if wrong is not None:
                raise ConfigError(wrong)
        errors, self._warnings = stray_variables(
            os.environ,
            type(self).model_fields,
            _sections(),
            json.dumps(self.model_dump(), default=str),  # any value an argument gave
        )
        if errors:
            raise ConfigError("; ".join(errors))
        path = _config_path.get() or os.environ.get("SCHEDKIT_CONFIG")
        if path:
            self._warnings += file_secrets(path)
        self._warnings += lost_after_warnings(timing.lost_after, timing.heartbeat_interval)
        self._warnings += node_expiry_warnings(
            timing.node_expiry, timing.heartbeat_interval, timing.lost_after
        )

    @property
    def warnings(self) -> list[str]:
        """What works but should change in where this configuration came from: logged as
        a node starts, listed by ``schedkit check``, printed by other CLI commands."""
        return list(self._warnings)

    def say_warnings(self, console: Console) -> None:
        """Print :attr:`warnings` to ``console`` (a CLI command's stderr) as ``warning:``
        lines, and forget them: a node the command starts (``run --local``) then does not
        log them again. Without it a mistyped variable (``SCHEDKIT_STORE`` for
        ``SCHEDKIT_STORE_URL``) was ignored without a word by every command but
        ``check``. Not for the commands that say them their own way (SAID_BY_COMMAND)."""
        if not self._warnings or cli_command() in SAID_BY_COMMAND:
            return
        from rich.markup import escape  # the CLI's extra, there when a console is given

        # The text names this process's own variables and config file: no other party's
        # data, so escaping the markup is all it needs.
        for warning in self._warnings:
            console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
        self._warnings = []

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(unknown_timezone(value)) from None
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_path.get() or os.environ.get("SCHEDKIT_CONFIG")
        if path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(path)))
        return tuple(sources)

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> SchedkitConfig:
        """Read the TOML file ``path`` (or ``$SCHEDKIT_CONFIG``) under the environment.

        Raises ConfigError naming the file and every bad key.
        """
        if path is not None and not Path(path).is_file():
            url = "://" in str(path)
            raise ConfigError(
                f"config file {path} does not exist"
                + (
                    ": that is a store URL, not a config file; give it as store_url "
                    f'(Scheduler({{"store_url": "{path}"}}), schedkit --store, or '
                    "SCHEDKIT_STORE_URL)"
                    if url
                    else ""
                )
            )
        token = _config_path.set(str(path) if path is not None else None)
        try:
            return cls(**overrides)
        finally:
            _config_path.reset(token)

    @classmethod
    def from_document(cls, config: dict[str, Any], **overrides: Any) -> SchedkitConfig:
        """Accept the design document's ``SCHEDULER_CONFIG`` shape.

        ``jobstores.default`` of type ``mongodb`` becomes a MongoDB store URL (its ``url``,
        else ``SCHEDKIT_STORE_URL``, else ``mongodb://localhost:27017`` with a warning in
        :attr:`warnings`) with the given database and the collection used for schedules;
        ``executors.default.max_workers`` sizes the thread pool; ``alerts`` is read as
        the alerts section.
        Any other key is a key of this configuration (``task_packages``, ``scheduler``,
        …), checked as such: a misspelt one is an error, not ignored.
        """
        native = {k: v for k, v in config.items() if k not in _DOCUMENT_KEYS}
        data: dict[str, Any] = {}
        if "timezone" in config:
            data["timezone"] = config["timezone"]
        store = (config.get("jobstores") or {}).get("default") or {}
        kind = store.get("type")
        fallback: str | None = None
        if kind == "mongodb":
            given = store.get("url") or os.environ.get("SCHEDKIT_STORE_URL")
            fallback = None if given else _DOCUMENT_MONGO_URL
            data["store_url"] = given or fallback
            options: dict[str, Any] = {}
            if store.get("database"):
                options["database"] = store["database"]
            if store.get("collection"):
                options["collections"] = {"schedules": store["collection"]}
            data["store_options"] = options
        elif kind in ("sqlalchemy", "sqlite", "postgresql"):
            data["store_url"] = store.get("url")
        elif kind is not None:
            raise ConfigError(f"jobstores.default.type: unsupported store type {kind!r}")
        executor = (config.get("executors") or {}).get("default") or {}
        if "max_workers" in executor:
            data["executor"] = {"max_workers": executor["max_workers"]}
        if "job_defaults" in config:
            data["job_defaults"] = config["job_defaults"]
        if "alerts" in config:
            data["alerts"] = config["alerts"]
        for key, value in native.items():
            # Sections given both ways merge (the key given natively wins).
            known = data.get(key)
            if isinstance(known, dict) and isinstance(value, dict):
                value = {**known, **value}
            data[key] = value
        data.update(overrides)
        token = _source_name.set("SCHEDULER_CONFIG")
        try:
            loaded = cls(**data)
        finally:
            _source_name.reset(token)
        if fallback is not None and "store_url" not in {**native, **overrides}:
            # A forgotten variable must not leave a production node on a local database
            # without a word; logged as the node starts, as the other warnings.
            loaded._warnings.append(
                f"SCHEDULER_CONFIG: jobstores.default (type mongodb) gives no url and "
                f"SCHEDKIT_STORE_URL is not set: the store is {fallback}; set "
                "SCHEDKIT_STORE_URL (or jobstores.default.url) to your MongoDB's URL"
            )
        return loaded


def _store_url_origin(config: SchedkitConfig, given: Mapping[str, Any], where: str) -> str:
    """Where ``config.store_url`` came from, in words (for a store-kind error)."""
    if "store_url" in given:
        source = _source_name.get()
        return f"from {source}" if source else "given as an argument"
    variable = _variable_of(("store_url",), given)
    if variable is not None:
        return f"from environment variable {variable}"
    if "store_url" in config.model_fields_set:
        return f"from {where}"
    return "the default: store_url is not set"


def _sections() -> set[str]:
    """The top-level settings that take ``__`` sub-keys in the environment: the sections
    and the tables (``SCHEDKIT_STORE_OPTIONS__DATABASE``)."""
    found = set()
    for name, field in SchedkitConfig.model_fields.items():
        kind = field.annotation
        if get_origin(kind) is dict or (isinstance(kind, type) and issubclass(kind, BaseModel)):
            found.add(name)
    return found


def _environment_error(exc: Exception) -> str:
    """pydantic-settings' error for an environment value it could not parse as JSON,
    with the variable to fix and how to write it."""
    found = re.search(r'field "(\w+)"', str(exc))
    field = found.group(1) if found else None
    variable = f"SCHEDKIT_{field.upper()}" if field else "a SCHEDKIT_* variable"
    kind = (
        SchedkitConfig.model_fields[field].annotation
        if field in SchedkitConfig.model_fields
        else None
    )
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        variable += "__*"  # a section's variables are read together
    return (
        f"environment variable {variable} cannot be read: a table (or a list of tables) "
        "given in the environment must be JSON, e.g. "
        """SCHEDKIT_STORE_OPTIONS='{"database": "exds"}'"""
    )


def _format_errors(exc: Any, where: str, given: Mapping[str, Any]) -> str:
    """Every error of ``exc``: those of values read from the environment named by their
    variable, the others after ``where`` (the file, or the arguments ``given``)."""
    from_env, others = [], []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        variable = _variable_of(err["loc"], given)
        message = error_message(err, SchedkitConfig)  # an unknown key: the ones meant
        if variable is None:
            others.append(f"{key}: {message}")
        else:
            # "Input should be a valid string" for ``null`` reads as nonsense: say why.
            unset = os.environ.get(variable) == "null"
            hint = " (null unsets only an optional setting; this one needs a value)"
            from_env.append(
                f"environment variable {variable}: {key}: {message}{hint if unset else ''}"
            )
    return "; ".join(from_env + ([f"{where}: " + "; ".join(others)] if others else []))


def _variable_of(loc: Sequence[str | int], given: Mapping[str, Any]) -> str | None:
    """The environment variable the value at ``loc`` was read from, or None: the
    arguments win over the environment, and a section may come whole as one variable
    (``SCHEDKIT_EXECUTOR='{...}'``), so the variables of the sections above count."""
    node: Any = given
    for part in loc:
        if not isinstance(node, Mapping):
            return None  # within a value given as an argument (a list)
        if part not in node:
            break
        node = node[part]
    else:
        return None  # given as an argument
    names = {name.upper() for name in os.environ}
    keys = [str(part).upper() for part in loc]
    for depth in range(len(keys), 0, -1):
        variable = "SCHEDKIT_" + "__".join(keys[:depth])
        if variable in names:
            return variable
    return None
