"""Dossier codes stay unique when many submissions arrive at once."""

from __future__ import annotations

import httpx
import pytest

from tests.support.intake import IntakeDeployment, submit_many

pytestmark = pytest.mark.e2e


async def test_a_thousand_concurrent_submissions_get_a_thousand_distinct_codes(
        intake: IntakeDeployment, tokens: dict[str, str]) -> None:
    # An idle pooled connection is dropped by the client before the server's keep-alive (uvicorn: 5 s) can
    # close it under a request just being sent (httpx's default expiry is the same 5 s: a race, ReadError).
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=1.0)
    async with httpx.AsyncClient(base_url=intake.base_url, timeout=120, limits=limits) as http:
        responses = await submit_many(http, tokens["portal"], intake.agency_id, 1000)

    assert [r.status_code for r in responses].count(201) == 1000, {r.status_code for r in responses}
    codes = [r.json()["code"] for r in responses]
    assert len(set(codes)) == 1000
    numbers = sorted(int(code.rsplit("-", 1)[1]) for code in codes)
    assert len(set(numbers)) == 1000
