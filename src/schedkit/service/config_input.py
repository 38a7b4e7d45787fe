"""What :class:`~schedkit.Scheduler` accepts as its configuration, made a
:class:`~schedkit.config.SchedkitConfig`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from schedkit.config import DEFAULT_CONFIG_FILE, SchedkitConfig, find_config_file

# The façade's logger: where a configuration's source was always logged.
logger = logging.getLogger("schedkit.service")

__all__ = ["ConfigInput", "load_config"]

ConfigInput = SchedkitConfig | Mapping[str, Any] | str | Path | None


def load_config(config: ConfigInput) -> SchedkitConfig:
    """A :class:`SchedkitConfig` from any of the forms :class:`Scheduler` accepts; None:
    the file the CLI reads too (:func:`~schedkit.config.find_config_file`), if any."""
    if isinstance(config, SchedkitConfig):
        return config
    if config is None:
        # Found as the CLI finds it: an app and `schedkit tasks` in one folder agree.
        path = find_config_file()
        if path is None:
            logger.info(
                "configuration: no config file (SCHEDKIT_CONFIG is not set, no %s in %s): "
                "defaults and SCHEDKIT_* variables",
                DEFAULT_CONFIG_FILE,
                Path.cwd(),
            )
        else:
            logger.info("configuration: config file %s", Path(path).resolve())
        return SchedkitConfig.load(path)
    if isinstance(config, str | Path):
        return SchedkitConfig.load(config)
    if "jobstores" in config or "executors" in config:
        return SchedkitConfig.from_document(dict(config))
    return SchedkitConfig.load(**config)
