"""Intake and routing keep their OpenAPI promises under generated requests (Schemathesis).

For every operation, Schemathesis sends requests built from the service's own OpenAPI
document — valid ones, and ones that break it on purpose — as a desk, as an agency and
without a token, and checks that no answer is a 5xx, that every status and content type is
documented, and that every body matches its documented schema (problem+json for errors).
Path parameters point at a real dossier with an open step, so the requests reach the
dossiers' rules and not only the 404 of an unknown code. Generation is deterministic.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.agencies import routed_view
from tests.support.deployments import SYSTEM_START, deploy_system
from tests.support.endpoints import Endpoints
from tests.support.intake import bearer
from tests.support.routing import desk_submission

pytestmark = pytest.mark.e2e
COMMUNE = "400.10.16690.H40"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
SCHEMATHESIS = Path(sys.executable).parent / "st"


def schemathesis(base_url: str, token: str, work_dir: Path, code: str) -> subprocess.CompletedProcess[str]:
    config = work_dir / "schemathesis.toml"
    config.write_text(f'[parameters]\n"path.code" = "{code}"\n"path.step_key" = "issue_copy"\n', encoding="utf-8")
    return subprocess.run(
        [str(SCHEMATHESIS), "--config-file", str(config), "run", f"{base_url}/openapi.json",
         "--header", f"Authorization: Bearer {token}", "--checks", CHECKS, "--max-examples", "25",
         "--generation-deterministic", "--no-color"],
        cwd=work_dir, capture_output=True, text=True, timeout=600, check=False)


async def test_intake_and_routing_answer_generated_requests_as_their_openapi_documents_say(
        endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> None:
    work_dir = tmp_path_factory.mktemp("api-contracts")
    async with deploy_system(endpoints, work_dir, SYSTEM_START) as system:
        tokens = system.tokens()
        async with httpx.AsyncClient(timeout=60) as http:
            response = await http.post(f"{system.base_url}/v1/dossiers", json=desk_submission(system, "2.000635"),
                                       headers=bearer(tokens["desk"]))
            assert response.status_code == 201, response.text
            code = response.json()["code"]
            await routed_view(system, http, tokens["auditor"], code)

        runs = {
            "intake as the desk": (system.base_url, tokens["desk"]),
            "routing as the commune": (system.routing_url, system.agency_token(COMMUNE)),
            "routing as the desk": (system.routing_url, tokens["desk"]),
        }
        for name, (base_url, token) in runs.items():
            run_dir = work_dir / name.replace(" ", "-")
            run_dir.mkdir()
            result = await asyncio.to_thread(schemathesis, base_url, token, run_dir, code)
            assert result.returncode == 0, f"{name}:\n{result.stdout[-20000:]}\n{result.stderr[-5000:]}"
            assert "passed" in result.stdout and " generated" in result.stdout, result.stdout
