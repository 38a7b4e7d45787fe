"""An ``@task`` object reads as the function it was made from: its name, qualified name,
module, doc and signature, and, for an ``async def``, ``inspect.iscoroutinefunction`` (on
Python 3.11 too, which has no ``inspect.markcoroutinefunction``).

An audit: it had no ``__name__`` or ``__qualname__``, its ``__module__`` was
``schedkit.task``, and ``inspect.iscoroutinefunction`` was false of an async task, so code
choosing how to call it (a framework's ``await`` or not) called it wrongly."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator

from schedkit import task


@task("fetch_prices")
async def fetch_prices(day: str, limit: int = 10) -> int:
    """Fetch one day's prices."""
    return limit


@task()
def settle(day: str) -> str:
    return day


@task()
async def stream_rows() -> AsyncIterator[int]:
    yield 1


@task()
def rows() -> Iterator[int]:
    yield 1


def test_an_async_task_is_a_coroutine_function_with_the_function_s_names() -> None:
    assert fetch_prices.__name__ == "fetch_prices"
    assert fetch_prices.__qualname__ == "fetch_prices"
    assert fetch_prices.__module__ == __name__
    assert fetch_prices.__doc__ == "Fetch one day's prices."
    assert inspect.iscoroutinefunction(fetch_prices)
    assert asyncio.iscoroutinefunction(fetch_prices)
    assert inspect.signature(fetch_prices) == inspect.signature(fetch_prices.func)
    assert asyncio.run(fetch_prices("2026-12-07", limit=3)) == 3


def test_other_tasks_are_what_their_functions_are() -> None:
    assert not inspect.iscoroutinefunction(settle)
    assert (settle.__name__, settle.__module__) == ("settle", __name__)
    assert inspect.isasyncgenfunction(stream_rows) and not inspect.iscoroutinefunction(stream_rows)
    assert inspect.isgeneratorfunction(rows)


def test_a_task_made_inside_a_function_keeps_its_qualified_name() -> None:
    @task("inner")
    def inner() -> None: ...

    assert inner.__qualname__.endswith("<locals>.inner")
    assert inner.__wrapped__ is inner.func
