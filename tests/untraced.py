"""The environment of child processes that load the machine rather than exercise code."""

from __future__ import annotations

import os
from collections.abc import Mapping


def untraced_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) without coverage's subprocess start-up.

    For children that generate load or import modules to check them (chaos nodes,
    benchmark runs, the fresh-interpreter imports): the code they run is covered by the
    tests that assert its behaviour, and tracing them doubled their CPU on two cores the
    whole suite shares (measured: the benchmark smoke test 109 s -> 71 s of CPU, one chaos
    run 21 s -> 11 s).
    """
    source = os.environ if env is None else env
    return {k: v for k, v in source.items() if not k.startswith("COVERAGE_")}
