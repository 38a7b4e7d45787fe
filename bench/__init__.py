"""schedkit's benchmark harness: every workload runs schedkit and APScheduler 3 back to
back, each system in its own interpreter. ``python -m bench --help``; results and how to
read them: docs/benchmarks.md."""

from __future__ import annotations
