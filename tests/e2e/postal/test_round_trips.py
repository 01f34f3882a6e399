"""Dossiers that travel by post, end to end: the papers collected at home and handed to the desk, the
result carried home, the dossier at national status 10 and the fee recorded — on the real broker,
database and carrier simulator."""

from __future__ import annotations

from tests.support.agencies import AgencySimulator, routed_view
from tests.support.intake import bearer
from tests.support.kafka import eventually
from tests.support.postal import leg_reaches, submit_by_post
from tests.support.routing import intake_status, step_of


async def test_a_certified_copy_collected_at_home_and_returned_home_ends_at_status_10_with_its_fee(
        by_post, tokens, carrier, clock, http) -> None:
    code = await submit_by_post(by_post, http, tokens, "2.000635")

    pickup = await leg_reaches(by_post, http, tokens["other-desk"], code, "pickup", "handed_to_agency")
    assert [r["status"] for r in pickup["history"] if r["applied"]] == [
        "created", "collecting", "collected", "in_transit", "handed_to_agency"]

    accepted = await http.post(f"{by_post.base_url}/v1/dossiers/{code}/acceptance",
                               headers=bearer(tokens["other-desk"]))
    assert accepted.status_code == 200, accepted.text
    view = await routed_view(by_post, http, tokens["auditor"], code,
                             until=lambda v: any(s["key"] == "issue_copy" and s["state"] == "open"
                                                 for s in v["steps"]))
    await AgencySimulator(by_post, http).claim_and_complete(code, step_of(view, "issue_copy"), clock.now())

    returned = await leg_reaches(by_post, http, tokens["other-desk"], code, "return", "delivered")
    assert returned["cod_amount_vnd"] == returned["fee_vnd"] + returned["postage_vnd"]
    assert returned["fee_vnd"] == 8_000  # the catalogue's fee for one certified copy
    await routed_view(by_post, http, tokens["auditor"], code, until=lambda v: v["national_status"] == 10)
    await intake_status(by_post, http, tokens, code, 10)

    async def fee_recorded() -> list[dict] | None:
        answer = await http.get(f"{by_post.postal_url}/v1/postal/fees", headers=bearer(tokens["other-desk"]))
        assert answer.status_code == 200, answer.text
        return answer.json() or None
    fees = await eventually(fee_recorded)
    assert sum(row["fee_vnd"] for row in fees) >= 8_000
    assert (await carrier.orders_per_leg())[(code, "pickup")] == 1
    assert (await carrier.orders_per_leg())[(code, "return")] == 1
