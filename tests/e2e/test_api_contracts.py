"""Intake, routing and postal keep their OpenAPI promises under generated requests, as every party.

For every operation of the three services, Schemathesis sends requests built from the service's own
OpenAPI document — its examples, the boundary values of every constraint (the coverage phase:
one past each maximum, each minimum, each format), and random valid and invalid ones — as the
citizen portal, the one-stop desk, an agency on the REST inbox, an agency integrated over
Kafka, the auditor and an anonymous caller (postal: the desk, the auditor, and the anonymous caller its
webhooks come from). No answer may be a 5xx; every status and content
type must be documented and every body must match its documented schema (problem+json for
errors). Path parameters point at a real dossier with an open step, so the requests reach the
dossiers' rules and not only the 404 of an unknown code. Generation is deterministic.

Before Schemathesis, every integer and date-time query parameter the documents declare is sent
the values that overflow a 64-bit integer or a calendar (``offset=9223372036854775808``,
``due_before=0001-01-01T00:00+14:00`` …), as every party: none may answer 5xx.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.agencies import routed_view
from tests.support.deployments import SYSTEM_START, deploy_system
from tests.support.endpoints import Endpoints
from tests.support.intake import bearer
from tests.support.routing import uploaded_desk_submission

pytestmark = pytest.mark.e2e
REST_AGENCY = "400.10.16690.H40"
"""The commune people's committee: it works its steps through the REST inbox."""
STREAM_AGENCY = "000.60.06.H40"
"""The provincial police: integrated over Kafka (its own inbox and reply topics)."""
PARTIES = ("portal", "desk", "rest-agency", "stream-agency", "auditor", "anonymous")
SERVICES = ("intake", "routing", "postal")
PARTIES_OF = {"intake": PARTIES, "routing": PARTIES, "postal": ("desk", "auditor", "anonymous")}
"""Who calls each service: postal's webhooks carry no token at all, and its reads are the desk's and the
auditor's (a partner's own client is like the auditor to the document)."""
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
PHASES = "examples,coverage,fuzzing"
MAX_EXAMPLES = 40
QUERY_MAX_EXAMPLES = 300
"""Reads get more examples: their query parameters are where overflows hide (300 finds the
``offset`` overflow of an unbounded integer; 40 does not)."""
SCHEMATHESIS = Path(sys.executable).parent / "st"
CONCURRENT_RUNS = 2

OVERFLOWING_INTEGERS = ("9223372036854775808", "9223372036854775807", "18446744073709551616", "-1",
                        "-9223372036854775809", "1e400")
OVERFLOWING_INSTANTS = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59Z",
                        "0000-01-01T00:00:00Z", "1970-01-01T00:00:00Z")


@dataclass
class Deployed:
    system: Any
    code: str
    tokens: dict[str, str | None]
    work_dir: Path

    def base_url(self, service: str) -> str:
        return {"intake": self.system.base_url, "routing": self.system.routing_url,
                "postal": self.system.postal_url}[service]


@pytest.fixture(scope="module")
async def deployed(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployed]:
    work_dir = tmp_path_factory.mktemp("api-contracts")
    async with deploy_system(endpoints, work_dir, SYSTEM_START, postal=True) as system:
        tokens = system.tokens()
        async with httpx.AsyncClient(timeout=60) as http:
            body = await uploaded_desk_submission(system, http, tokens["desk"], "2.000635")
            response = await http.post(f"{system.base_url}/v1/dossiers", json=body, headers=bearer(tokens["desk"]))
            assert response.status_code == 201, response.text
            code = response.json()["code"]
            await routed_view(system, http, tokens["auditor"], code)
        yield Deployed(system, code, {
            "portal": tokens["portal"], "desk": tokens["desk"], "auditor": tokens["auditor"],
            "rest-agency": system.agency_token(REST_AGENCY), "stream-agency": system.agency_token(STREAM_AGENCY),
            "anonymous": None}, work_dir)


def query_parameters(document: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(method, path, name, "integer" | "date-time")`` for every such query parameter."""
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "query":
                    continue
                schema = parameter.get("schema", {})
                kinds = {schema.get("type"), schema.get("format")} | {
                    option.get(key) for option in schema.get("anyOf", []) for key in ("type", "format")}
                for kind in ("integer", "date-time"):
                    if kind in kinds:
                        found.append((method.upper(), path, parameter["name"], kind))
    return found


async def test_overflowing_query_values_answer_4xx_never_5xx_as_every_party(deployed: Deployed) -> None:
    failures = []
    async with httpx.AsyncClient(timeout=60) as http:
        for service in SERVICES:
            base_url = deployed.base_url(service)
            document = (await http.get(f"{base_url}/openapi.json")).json()
            parameters = query_parameters(document)
            assert parameters or service == "intake", "routing's inbox takes offset, limit and due_before"
            for party, token in deployed.tokens.items():
                headers = bearer(token) if token else {}
                for method, path, name, kind in parameters:
                    url = base_url + path.replace("{code}", deployed.code).replace("{step_key}", "issue_copy")
                    for value in OVERFLOWING_INTEGERS if kind == "integer" else OVERFLOWING_INSTANTS:
                        response = await http.request(method, url, params={name: value}, headers=headers)
                        if response.status_code >= 500:
                            failures.append(f"{party}: {method} {path}?{name}={value} -> "
                                            f"{response.status_code} {response.text[:300]}")
    assert not failures, "\n".join(failures)


def schemathesis(base_url: str, token: str | None, work_dir: Path, code: str) -> subprocess.CompletedProcess[str]:
    config = work_dir / "schemathesis.toml"
    config.write_text(f'[parameters]\n"path.code" = "{code}"\n"path.step_key" = "issue_copy"\n\n'
                      f'[generation]\nmax-examples = {MAX_EXAMPLES}\n\n'
                      f'[[operations]]\ninclude-method = "GET"\n'
                      f'generation = {{ max-examples = {QUERY_MAX_EXAMPLES} }}\n',
                      encoding="utf-8")
    authorization = ["--header", f"Authorization: Bearer {token}"] if token else []
    return subprocess.run(
        [str(SCHEMATHESIS), "--config-file", str(config), "run", f"{base_url}/openapi.json", *authorization,
         "--checks", CHECKS, "--phases", PHASES, "--generation-deterministic", "--workers", "1", "--no-color"],
        cwd=work_dir, capture_output=True, text=True, timeout=900, check=False)


@pytest.fixture(scope="module")
async def runs(deployed: Deployed) -> dict[tuple[str, str], subprocess.CompletedProcess[str]]:
    """Every (service, party) run of Schemathesis, :data:`CONCURRENT_RUNS` at a time (each run is one
    client sending one request after another, so two keep a service busy without crowding it)."""
    slots = asyncio.Semaphore(CONCURRENT_RUNS)

    async def run(service: str, party: str) -> subprocess.CompletedProcess[str]:
        run_dir = deployed.work_dir / f"{service}-as-{party}"
        run_dir.mkdir()
        async with slots:
            return await asyncio.to_thread(schemathesis, deployed.base_url(service), deployed.tokens[party],
                                           run_dir, deployed.code)

    pairs = [(service, party) for service in SERVICES for party in PARTIES_OF[service]]
    return dict(zip(pairs, await asyncio.gather(*(run(*pair) for pair in pairs)), strict=True))


@pytest.mark.parametrize(("service", "party"), [(s, p) for s in SERVICES for p in PARTIES_OF[s]])
async def test_generated_requests_get_the_answers_the_openapi_document_promises(
        runs: dict[tuple[str, str], subprocess.CompletedProcess[str]], service: str, party: str) -> None:
    result = runs[(service, party)]

    assert result.returncode == 0, f"{service} as {party}:\n{result.stdout[-20000:]}\n{result.stderr[-5000:]}"
    assert "passed" in result.stdout and " generated" in result.stdout, result.stdout
