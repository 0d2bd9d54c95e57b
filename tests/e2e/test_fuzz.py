"""Fuzzing the served OpenAPI document with schemathesis, with a valid token for each role:
no 5xx, and every response conforms to the documented status codes, content types and
schemas. Examples are bounded so CI stays quick (CASELOG_FUZZ_EXAMPLES to go further)."""

from __future__ import annotations

import os

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import Live

EXAMPLES = int(os.environ.get("CASELOG_FUZZ_EXAMPLES", "8"))
ROLES = ["municipality", "provider", "contract_manager", "auditor"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize("role", ROLES)
def test_no_server_errors_and_every_response_as_documented(live: Live, role: str) -> None:
    headers = live.token(role)
    # a real case, so that generated requests also reach existing cases
    with httpx.Client(base_url=live.url, timeout=30) as c:
        case_id = c.post("/v1/cases", headers=live.token("municipality"), json={
            "client_ref": "fuzz-1", "municipality": "Houten", "provider": "aanbieder-a",
            "referred_on": "2024-01-08"}).json()["case_id"]  # fmt: skip
    schema = schemathesis.openapi.from_url(f"{live.url}/schema/openapi.json")
    failures: list[str] = []
    calls: list[int] = []

    def fuzz(operation) -> None:
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=operation.as_strategy())
        def run(case) -> None:
            params = case.path_parameters or {}
            if "case_id" in params and hash(str(params)) % 2:
                params["case_id"] = case_id  # half the time, a case that exists
            calls.append(1)
            case.call_and_validate(base_url=live.url, headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as e:
            failures.append(f"{operation.method.upper()} {operation.path}: {str(e)[:400]}")

    for result in schema.get_all_operations():
        fuzz(result.ok())
    assert failures == []
    assert len(calls) >= 20 * min(EXAMPLES, 2), "the fuzzer ran"
