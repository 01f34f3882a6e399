"""Who reads what of postal: a dossier's shipments for its receiving desk, auditors and the partner carrying
it (404 for anyone else, as for an unknown dossier), a partner's own open shipments, the fee report for
a desk's own agency, and the webhook contract in the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.intake import bearer
from tests.support.kafka import eventually
from tests.support.postal import leg_of, shipments, submit_by_post


@pytest.fixture
async def on_its_way(by_post, tokens, carrier, clock, http) -> str:
    """A dossier whose pickup the carrier has ordered and holds (no status moves)."""
    await carrier.set_behaviour(paused=True)
    code = await submit_by_post(by_post, http, tokens, "2.000635", result_by_post=False)

    async def ordered() -> Any:
        leg = leg_of(await shipments(by_post, http, tokens["auditor"], code), "pickup")
        return leg is not None and leg["order_id"] is not None
    await eventually(ordered, timeout=60)
    return code


@pytest.mark.parametrize("party, status", [("other-desk", 200), ("auditor", 200), ("postal", 200), ("desk", 404),
                                           ("agency", 404), ("portal", 404)])
async def test_a_dossiers_shipments_are_read_by_its_desk_auditors_and_its_carrier_only(
        by_post, tokens, http, on_its_way, party, status) -> None:
    answer = await http.get(f"{by_post.postal_url}/v1/postal/dossiers/{on_its_way}/shipments",
                            headers=bearer(tokens[party]))
    assert answer.status_code == status, answer.text
    if status == 404:
        unknown = await http.get(f"{by_post.postal_url}/v1/postal/dossiers/000.00.01.H40-250707-999999/shipments",
                                 headers=bearer(tokens[party]))
        assert (unknown.status_code, unknown.json()["type"]) == (404, answer.json()["type"])  # the same words


async def test_a_partner_lists_its_open_shipments_and_nobody_else_may(by_post, tokens, http, on_its_way) -> None:
    async def listed() -> Any:
        answer = await http.get(f"{by_post.postal_url}/v1/postal/shipments", params={"limit": 500},
                                headers=bearer(tokens["postal"]))
        assert answer.status_code == 200, answer.text
        return [row for row in answer.json() if row["dossier_code"] == on_its_way] or None
    [row] = await eventually(listed)
    assert (row["leg"], row["status"]) == ("pickup", "created")
    for party in ("other-desk", "auditor", "agency"):
        refused = await http.get(f"{by_post.postal_url}/v1/postal/shipments", headers=bearer(tokens[party]))
        assert refused.status_code == 403, refused.text


@pytest.mark.parametrize("party, params, status", [
    ("other-desk", {"agency_id": "000.00.01.H40"}, 403), ("agency", {}, 403), ("portal", {}, 403),
    ("auditor", {"since": "2025-07-08", "until": "2025-07-01"}, 422),
    ("auditor", {"since": "2024-01-01", "until": "2025-07-01"}, 422),
    ("auditor", {"until": "0001-01-01"}, 200), ("auditor", {"since": "9999-12-31"}, 422),
    ("auditor", {"since": "9999-12-31", "until": "9999-12-31"}, 200), ("auditor", {"since": "2025-02-30"}, 422)])
async def test_the_fee_report_answers_a_bad_period_or_an_other_agency_with_a_precise_4xx(
        by_post, tokens, http, party, params, status) -> None:
    answer = await http.get(f"{by_post.postal_url}/v1/postal/fees", params=params, headers=bearer(tokens[party]))
    assert answer.status_code == status, answer.text
    if status >= 400:
        assert answer.headers["content-type"].startswith("application/problem+json")


async def test_the_openapi_document_describes_the_status_webhook_a_partner_sends(by_post, http) -> None:
    document = (await http.get(f"{by_post.postal_url}/openapi.json")).json()
    assert "shipment-status" in document["webhooks"]
    assert "/v1/postal/webhooks/{partner_id}" in document["paths"]
