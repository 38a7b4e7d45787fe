"""The engine: what turns schedules into runs and runs into history.

Internal; users reach it through :class:`schedkit.Scheduler`. The parts, each with one
job (docs/architecture.md walks a run through them):

* :mod:`~schedkit.engine.planning` — pure decisions over a schedule's due fires
  (calendar, misfire, coalesce) and its active runs (overlap policy);
* :mod:`~schedkit.engine.runs` — the one place a :class:`~schedkit.models.Run` is built;
* :mod:`~schedkit.engine.retries` — whether and when an attempt is tried again;
* :mod:`~schedkit.engine.window` — the in-memory timer of fires due soon;
* :mod:`~schedkit.engine.leadership` — the scheduler lease;
* :mod:`~schedkit.engine.scheduler` — the firing loop (lease holder only);
* :mod:`~schedkit.engine.reaper` — runs of dead nodes;
* :mod:`~schedkit.engine.slots` — this node's capacity;
* :mod:`~schedkit.engine.attempt` — one attempt of a run: hooks, timeout, verdict;
* :mod:`~schedkit.engine.executor` — claims runs, executes and finishes them.
"""
