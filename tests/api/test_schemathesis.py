"""Property-based checks of the whole API against its own OpenAPI document.

schemathesis generates valid and invalid requests for every operation (as admin) and
checks that no answer is a server error and every answer matches the documented status
codes, content types, headers and schemas. The event stream is left out: it is an
endless text/event-stream (tests/api/test_events.py covers it).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from schedkit.api import create_app
from schedkit.tokens import TOKEN_PREFIX
from tests.api.conftest import Api, open_api
from tests.api.server import fast_config
from tests.api.tasks import api_registry

MAX_EXAMPLES = 10


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
    {"auth": {"openapi": {"ApiToken": {"bearer": ADMIN_SECRET}}}}
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG).exclude(path_regex=r"/events$")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    path = tmp_path_factory.mktemp("schemathesis") / "schedkit.db"
    yield from open_api(f"sqlite:///{path}", preset={"schemathesis": ADMIN_SECRET})


def test_served_document_is_the_tested_one(api: Api) -> None:
    served = httpx.get(api.url + "/openapi.json").json()
    assert served == DOCUMENT


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
def test_api_conforms_to_its_schema(case: Any, api: Api) -> None:
    # positive_data_acceptance is left out: a schedule body is validated beyond what JSON
    # Schema can say (a crontab string must parse), so schema-valid bodies may get a 422.
    case.call_and_validate(base_url=api.url, excluded_checks=[positive_data_acceptance])
