"""Property-based checks of the whole API against its own OpenAPI document.

schemathesis generates valid and invalid requests for every operation (as admin), then
chains operations through the links it infers (a run id from ``execute`` into
``GET /runs/{run_id}``, ...) in its stateful phase, and runs every check on every answer:
no server error, documented status codes, content types, headers and schemas, invalid
input rejected, valid input accepted. The event stream is left out: it is an endless
text/event-stream (tests/api/test_events.py covers it).
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import settings

from schedkit.api import create_app
from schedkit.tokens import TOKEN_PREFIX
from tests.api.conftest import Api, open_api
from tests.api.server import fast_config
from tests.api.tasks import api_registry

MAX_EXAMPLES = 10
#: Stateful scenarios and their length.
STATEFUL_EXAMPLES = 15
STATEFUL_STEPS = 6


def _openapi_document() -> dict[str, Any]:
    # The document of an app built like the served one (the lazy fixture loader of
    # schemathesis 4 does not work with pytest 9, so the schema is loaded at import);
    # test_served_document_is_the_tested_one pins that the server serves this document.
    app = create_app(fast_config("sqlite:///unused.db"), registry=api_registry())
    return app.openapi()


DOCUMENT = _openapi_document()
#: An admin token whose secret is known before the server starts; schemathesis sends it
#: through the document's security scheme, so its negative cases can also drop it.
ADMIN_SECRET = TOKEN_PREFIX + secrets.token_urlsafe(32)
CONFIG = schemathesis.Config.from_dict(
    {
        "auth": {"openapi": {"ApiToken": {"bearer": ADMIN_SECRET}}},
        # A change without a body says it is not a cross-site form (schedkit.api.guards).
        "headers": {"X-Requested-With": "schemathesis"},
        "checks": {
            # Schema-valid input that the API still refuses on purpose: a task or run
            # that does not exist (404), a state that forbids the action (409), and what
            # JSON Schema cannot say (a crontab string must parse, kwargs must fit the
            # task's parameters: 422).
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422"]
            },
        },
    }
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG).exclude(path_regex=r"/events$")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    path = tmp_path_factory.mktemp("schemathesis") / "schedkit.db"
    # No run-rate limit here: the checks are about conformance, not throttling.
    yield from open_api(
        f"sqlite:///{path}",
        preset={"schemathesis": ADMIN_SECRET},
        api={"run_rate": 1e6, "run_burst": 1_000_000},
    )


def test_served_document_is_the_tested_one(api: Api) -> None:
    served = httpx.get(api.url + "/openapi.json").json()
    assert served == DOCUMENT


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None)
def test_api_conforms_to_its_schema(case: Any, api: Api) -> None:
    case.call_and_validate(base_url=api.url)


def test_api_conforms_in_stateful_scenarios(tmp_path: Path) -> None:
    workflow = schema.as_state_machine()
    assert workflow.bundles, "no links between operations: the stateful phase would not run"
    databases = itertools.count()

    class Scenario(workflow):  # type: ignore[misc, valid-type]
        """Each scenario on a fresh store, so that a replayed scenario meets the same
        state (a token it revoked, a schedule it deleted). The node neither fires nor
        executes: a run's answers do not depend on how far it got."""

        def setup(self) -> None:
            self.server = contextlib.ExitStack()
            url = f"sqlite:///{tmp_path / f'scenario-{next(databases)}.db'}"
            self.api = self.server.enter_context(
                contextlib.contextmanager(open_api)(
                    url,
                    preset={"schemathesis": ADMIN_SECRET},
                    grace=0.1,
                    scheduler={"enabled": False},
                    executor={"enabled": False},
                )
            )

        def teardown(self) -> None:
            self.server.close()

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {
                "base_url": self.api.url,
                "headers": {"Authorization": f"Bearer {ADMIN_SECRET}"},
            }

    Scenario.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES, stateful_step_count=STATEFUL_STEPS, deadline=None
        )
    )
