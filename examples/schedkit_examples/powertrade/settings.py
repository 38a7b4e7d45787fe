"""Where powertrade keeps its data and files.

By default the domain data lives in the **same database as the scheduler store** (the
store URL of the schedkit configuration: ``SCHEDKIT_STORE_URL``, the file named by
``SCHEDKIT_CONFIG``, or schedkit's default ``sqlite:///schedkit.db``); reports, backups
and temporary files go under a ``var/`` directory.

Precedence, highest first:

1. per-task config (``registry.register_task(cls, {...})`` → ``execution_context``; the
   helper :func:`configure` fills it from a :class:`~schedkit.Scheduler`'s config),
2. ``POWERTRADE_*`` environment variables,
3. the schedkit configuration (``$SCHEDKIT_CONFIG``, else ``./schedkit.toml`` if present,
   with the ``SCHEDKIT_*`` variables — what the ``schedkit`` CLI reads by default),
4. defaults.

================================  =========================================================
Variable                          Meaning (default)
================================  =========================================================
``POWERTRADE_DB_URL``             domain database URL (the scheduler store URL)
``POWERTRADE_DATABASE``           MongoDB database name (the store's: store option
                                  ``database``, else the URL's path; for a separate
                                  ``POWERTRADE_DB_URL``: its path, else ``exds``)
``POWERTRADE_TABLE_PREFIX``       prefix of domain tables / collections (``pt_``)
``POWERTRADE_VAR_DIR``            base directory of files (``var``)
``POWERTRADE_REPORTS_DIR``        report files (the configuration's ``result_files_dir``,
                                  else ``$VAR/reports``)
``POWERTRADE_BACKUP_DIR``         backups (``$VAR/backups``)
``POWERTRADE_TEMP_DIR``           temporary files (``$VAR/tmp``)
================================  =========================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from schedkit.config import SchedkitConfig
from schedkit_examples.powertrade import TASK_PACKAGE

if TYPE_CHECKING:
    from schedkit import Scheduler

__all__ = ["ENV_PREFIX", "PowertradeSettings", "configure", "load_settings"]

ENV_PREFIX = "POWERTRADE_"
DEFAULT_MONGO_DATABASE = "exds"
DEFAULT_TABLE_PREFIX = "pt_"

#: Keys accepted in per-task config / overrides (and their environment variable names).
_KEYS = (
    "db_url",
    "database",
    "table_prefix",
    "var_dir",
    "reports_dir",
    "backup_dir",
    "temp_dir",
    "store_url",
    "store_options",
    "timezone",
    "alerts_enabled",
    "alert_channels",
)
_ENV_KEYS = (
    "db_url",
    "database",
    "table_prefix",
    "var_dir",
    "reports_dir",
    "backup_dir",
    "temp_dir",
)


@dataclass(frozen=True, kw_only=True)
class PowertradeSettings:
    """Resolved settings (absolute directories)."""

    db_url: str
    database: str | None
    table_prefix: str
    store_url: str
    store_options: dict[str, Any] = field(default_factory=dict)
    var_dir: Path
    reports_dir: Path
    backup_dir: Path
    temp_dir: Path
    timezone: str = "Asia/Shanghai"
    alerts_enabled: bool = False
    alert_channels: tuple[str, ...] = ()

    @property
    def backend(self) -> str:
        """``sqlite``, ``postgresql`` or ``mongodb``."""
        return backend_of(self.db_url)

    def as_task_config(self) -> dict[str, Any]:
        """The settings as a JSON-able per-task config (for ``register_task``)."""
        return {
            "db_url": self.db_url,
            "database": self.database,
            "table_prefix": self.table_prefix,
            "store_url": self.store_url,
            "store_options": dict(self.store_options),
            "var_dir": str(self.var_dir),
            "reports_dir": str(self.reports_dir),
            "backup_dir": str(self.backup_dir),
            "temp_dir": str(self.temp_dir),
            "timezone": self.timezone,
            "alerts_enabled": self.alerts_enabled,
            "alert_channels": list(self.alert_channels),
        }


def backend_of(url: str) -> str:
    scheme = urlsplit(url).scheme.split("+", 1)[0].lower()
    if scheme in ("mongodb", "mongodb+srv"):
        return "mongodb"
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    if scheme == "sqlite":
        return "sqlite"
    raise ValueError(
        f"unsupported powertrade database URL scheme {scheme!r}: "
        "use sqlite:///FILE, postgresql://... or mongodb://..."
    )


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    scheduler_config: SchedkitConfig | None = None,
    environ: Mapping[str, str] | None = None,
) -> PowertradeSettings:
    """Resolve the settings (see the module docstring for the precedence).

    ``scheduler_config`` defaults to ``SchedkitConfig.load()`` (``SCHEDKIT_CONFIG`` and
    ``SCHEDKIT_*`` variables); it is only read for what overrides and environment leave
    open.
    """
    env = os.environ if environ is None else environ
    given: dict[str, Any] = {}
    for key in _ENV_KEYS:
        value = env.get(ENV_PREFIX + key.upper())
        if value:
            given[key] = value
    for key, value in (overrides or {}).items():
        if key in _KEYS and value is not None:
            given[key] = value

    needs_config = any(
        k not in given
        for k in ("store_url", "store_options", "timezone", "alerts_enabled", "alert_channels")
    )
    config = scheduler_config
    if config is None and needs_config:
        config = _scheduler_config(env)
    store_url = str(given.get("store_url") or (config.store_url if config else ""))
    store_options = dict(given.get("store_options") or (config.store_options if config else {}))
    db_url = str(given.get("db_url") or store_url or "sqlite:///schedkit.db")
    backend = backend_of(db_url)

    database: str | None = given.get("database")
    if backend == "mongodb" and not database:
        path_db = unquote(urlsplit(db_url).path.lstrip("/"))
        if db_url == store_url:
            # The store's own rule (schedkit.store.mongo): option, URL path, "schedkit".
            database = store_options.get("database") or path_db or "schedkit"
        else:
            database = path_db or DEFAULT_MONGO_DATABASE

    var_dir = Path(given.get("var_dir") or "var").expanduser().resolve()

    def directory(key: str, default: str) -> Path:
        value = given.get(key)
        return Path(value).expanduser().resolve() if value else var_dir / default

    # Reports are named relative to the directory the API offers downloads from: where
    # the configuration has one (the demo's does), it is the reports directory.
    result_files = config.result_files_dir if config is not None else None
    if result_files and not given.get("reports_dir"):
        given["reports_dir"] = result_files

    alerts = config.alerts if config is not None else None
    channels = given.get("alert_channels")
    return PowertradeSettings(
        db_url=db_url,
        database=database if backend == "mongodb" else None,
        table_prefix=str(given.get("table_prefix", DEFAULT_TABLE_PREFIX)),
        store_url=store_url or db_url,
        store_options=store_options,
        var_dir=var_dir,
        reports_dir=directory("reports_dir", "reports"),
        backup_dir=directory("backup_dir", "backups"),
        temp_dir=directory("temp_dir", "tmp"),
        timezone=str(given.get("timezone") or (config.timezone if config else "Asia/Shanghai")),
        alerts_enabled=bool(
            given.get("alerts_enabled", alerts.enabled if alerts is not None else False)
        ),
        alert_channels=tuple(
            channels if channels is not None else (alerts.channels if alerts is not None else ())
        ),
    )


def _scheduler_config(env: Mapping[str, str]) -> SchedkitConfig:
    """The configuration the ``schedkit`` CLI reads by default: ``$SCHEDKIT_CONFIG``, else
    ``./schedkit.toml`` if present, under the ``SCHEDKIT_*`` variables. (A file given
    with ``schedkit --config FILE`` is not visible to tasks: use :func:`configure` or
    ``SCHEDKIT_CONFIG``.)"""
    if env.get("SCHEDKIT_CONFIG"):
        return SchedkitConfig.load()
    default = Path("schedkit.toml")
    return SchedkitConfig.load(default if default.is_file() else None)


def configure(scheduler: Scheduler, **overrides: Any) -> PowertradeSettings:
    """Register the powertrade tasks on ``scheduler``'s registry with settings derived
    from its configuration (same database as its store, its timezone and alert
    channels), before ``scheduler.start()``::

        scheduler = Scheduler("examples/schedkit_examples/powertrade/schedkit.toml")
        configure(scheduler, var_dir="/srv/powertrade")
        await scheduler.start()

    Without this call the tasks resolve their settings from ``SCHEDKIT_CONFIG`` and the
    environment on each run.
    """
    settings = load_settings(overrides, scheduler_config=scheduler.config)
    context = settings.as_task_config()
    for task in scheduler.registry.discover([TASK_PACKAGE]):
        task.execution_context.update(context)
    if scheduler.config.result_files_dir is None:
        # Report runs name their files relative to reports_dir: offer them for download.
        scheduler.config.result_files_dir = str(settings.reports_dir)
    return settings
