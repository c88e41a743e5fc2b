"""schemathesis over both API documents the server publishes — FastAPI's `/openapi.json` and the OGC `/ogc/api` —
against a real server with data: no generated request may answer 5xx (schemathesis' `not_a_server_error`).

Every operation of each document is exercised, none excluded, with a bounded number of generated requests per
operation and generation mode (valid and invalid input), so the module stays well under a minute. The app is
served as `citytwin serve` serves it (uvicorn with the lean protocol), so the query fast paths are fuzzed with the
FastAPI routes. The operations are driven with hypothesis directly: schemathesis' lazy pytest loader
(`schemathesis.pytest.from_fixture`) reads a private pytest attribute that pytest 9 no longer has.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation.modes import GenerationMode
from schemathesis.schemas import APIOperation, BaseSchema
from sqlalchemy import Engine

from ingest_gis.footprints import FootprintOptions
from tests.conftest import populated_server
from tests.helpers.city import add_house_and_street
from tests.helpers.data import shared_data
from twin.ingest import ingest_footprints

EXAMPLES = 15
"""Generated requests per operation and generation mode (hypothesis' `max_examples`)."""
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def fuzzed_server(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[str]:
    """A server of its own (the fuzzer posts uploads too), with footprints and a house with storeys and rooms."""
    def populate(engine: Engine) -> None:
        ingest_footprints(engine, shared_data("gis/osm_berlin_prenzlauerberg_buildings.geojson"),
                          FootprintOptions(name="berlin"))
        add_house_and_street(engine)

    with populated_server(server_url, template_database, Path(tmp_path_factory.mktemp("fuzz")), populate
                          ) as (base_url, _):
        yield base_url


def _server_errors(schema: BaseSchema) -> list[str]:
    """Each operation fuzzed in both generation modes; one line (operation, status, curl) per 5xx found."""
    found: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert operations
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, found)
    return found


def _fuzz(operation: APIOperation, mode: GenerationMode, found: list[str]) -> None:
    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        response = case.call(timeout=30)
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except FailureGroup:
            found.append(f"{operation.label} → {response.status_code}: {case.as_curl_command()}")

    try:
        run()
    except Unsatisfiable:  # nothing of this operation can be made invalid (no parameters, no body)
        assert mode is GenerationMode.NEGATIVE, operation.label


def test_no_request_generated_from_openapi_json_answers_a_server_error(fuzzed_server: str) -> None:
    errors = _server_errors(schemathesis.openapi.from_url(f"{fuzzed_server}/openapi.json"))
    assert not errors, "\n".join(errors)


def test_no_request_generated_from_the_ogc_api_definition_answers_a_server_error(fuzzed_server: str) -> None:
    errors = _server_errors(schemathesis.openapi.from_url(f"{fuzzed_server}/ogc/api"))
    assert not errors, "\n".join(errors)


def test_a_body_number_too_large_for_a_float_answers_no_server_error_from_any_operation(fuzzed_server: str) -> None:
    """`1e999` in a JSON body reads as infinity, which FastAPI's 422 echoes back and no JSON can hold: a 4xx, or
    the per-item refusals of a batch route."""
    import re

    import httpx

    operations = httpx.get(f"{fuzzed_server}/openapi.json").json()["paths"]
    tried = []
    for path, methods in operations.items():
        for method in methods.keys() & {"post", "put", "patch"}:
            url = fuzzed_server + re.sub(r"\{[^}]+\}", "x", path)
            for body in (b'{"points": [[1e999, 1]], "value": 1e999, "id": "x"}', b"[1e999]"):
                answer = httpx.request(method, url, content=body, headers={"content-type": "application/json"})
                tried.append(path)
                assert answer.status_code < 500, (method, path, body, answer.status_code, answer.text[:300])
    assert len(set(tried)) >= 10, tried
