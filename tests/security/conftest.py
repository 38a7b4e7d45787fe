"""Security tests: real servers (uvicorn in a thread, or ``schedkit serve`` as a
subprocess), real Chromium for the cross-origin checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import Api, open_api
from tests.conftest import service_url
from tests.console.conftest import CHROMIUM_VAR
from tests.security.tasks import security_registry


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One server with the security tasks and the default limits."""
    path: Path = tmp_path_factory.mktemp("security") / "schedkit.db"
    yield from open_api(f"sqlite:///{path}", registry=security_registry())


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium (``SCHEDKIT_TEST_CHROMIUM`` names it; skips without it)."""
    return service_url(CHROMIUM_VAR)
