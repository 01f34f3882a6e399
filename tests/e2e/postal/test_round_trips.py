"""Dossiers that travel by post, end to end: the papers collected at home and handed to the desk, the
result carried home, the dossier at national status 10 and the fee recorded — on the real broker,
database and carrier simulator."""

from __future__ import annotations

from tests.support.agencies import routed_view
from tests.support.deployments import SYSTEM_START
from tests.support.intake import bearer
from tests.support.kafka import eventually
from tests.support.postal import accept_and_complete, leg_of, leg_reaches, shipments, submit_by_post
from tests.support.routing import intake_status


async def fees_of(by_post, http, tokens, code: str) -> list[dict]:
    answer = await http.get(f"{by_post.postal_url}/v1/postal/dossiers/{code}/fees", headers=bearer(tokens["auditor"]))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def fee_report(by_post, http, tokens) -> dict:
    """The province centre's report for the day the tests' clock starts on (zeros when nothing was collected
    yet). Only the certified copy's test sends a dossier there, so what it adds is that dossier's alone."""
    day = SYSTEM_START.date().isoformat()
    answer = await http.get(f"{by_post.postal_url}/v1/postal/fees", params={"since": day, "until": day},
                            headers=bearer(tokens["desk"]))
    assert answer.status_code == 200, answer.text
    rows = answer.json()
    assert all(row["agency_id"] == by_post.agency_id for row in rows)  # a desk sees its own agency only
    return rows[0] if rows else {"fee_vnd": 0, "postage_vnd": 0, "legs": 0}


async def test_a_certified_copy_collected_at_home_and_returned_home_ends_at_status_10_with_its_fee(
        by_post, tokens, carrier, clock, http) -> None:
    before = await fee_report(by_post, http, tokens)
    code = await submit_by_post(by_post, http, tokens, "2.000635", desk="desk")

    pickup = await leg_reaches(by_post, http, tokens["desk"], code, "pickup", "handed_to_agency")
    assert [r["status"] for r in pickup["history"] if r["applied"]] == [
        "created", "collecting", "collected", "in_transit", "handed_to_agency"]

    await accept_and_complete(by_post, http, tokens, code, desk="desk")

    returned = await leg_reaches(by_post, http, tokens["desk"], code, "return", "delivered")
    assert returned["cod_amount_vnd"] == returned["fee_vnd"] + returned["postage_vnd"]
    assert returned["fee_vnd"] == 8_000  # the catalogue's fee for one certified copy
    await routed_view(by_post, http, tokens["auditor"], code, until=lambda v: v["national_status"] == 10)
    await intake_status(by_post, http, tokens, code, 10)

    fees = await eventually(lambda: fees_of(by_post, http, tokens, code))
    assert sorted((f["leg"], f["fee_vnd"], f["postage_vnd"]) for f in fees) == [
        ("pickup", 0, returned["postage_vnd"]), ("return", 8_000, returned["postage_vnd"])]
    after = await fee_report(by_post, http, tokens)
    assert (after["fee_vnd"] - before["fee_vnd"], after["postage_vnd"] - before["postage_vnd"], after["legs"]
            - before["legs"]) == (8_000, 2 * returned["postage_vnd"], 2)
    assert (await carrier.orders_per_leg())[(code, "pickup")] == 1
    assert (await carrier.orders_per_leg())[(code, "return")] == 1


async def test_a_birth_registration_routed_to_three_agencies_goes_out_and_comes_back_by_post(
        by_post, tokens, carrier, clock, http) -> None:
    code = await submit_by_post(by_post, http, tokens, "1.001193")
    await leg_reaches(by_post, http, tokens["other-desk"], code, "pickup", "handed_to_agency")
    await accept_and_complete(by_post, http, tokens, code)

    returned = await leg_reaches(by_post, http, tokens["other-desk"], code, "return", "delivered")
    assert returned["fee_collected"] and returned["fee_vnd"] == 0  # registering a birth is free
    await routed_view(by_post, http, tokens["auditor"], code, until=lambda v: v["national_status"] == 10)
    await intake_status(by_post, http, tokens, code, 10)
    legs = await shipments(by_post, http, tokens["auditor"], code)
    assert sorted((leg["leg"], leg["state"]) for leg in legs) == [("pickup", "closed"), ("return", "closed")]
    assert (await carrier.orders_per_leg())[(code, "return")] == 1


async def test_statuses_whose_webhooks_are_all_lost_still_arrive_by_reconciliation(
        by_post, tokens, carrier, clock, http) -> None:
    await carrier.set_behaviour(drop_webhook_ratio=1.0)
    code = await submit_by_post(by_post, http, tokens, "2.000635", result_by_post=False)

    pickup = await leg_reaches(by_post, http, tokens["other-desk"], code, "pickup", "handed_to_agency")
    assert {r["source"] for r in pickup["history"]} <= {"reconciliation", "answer"}
    assert "reconciliation" in {r["source"] for r in pickup["history"]}

    async def arrived() -> dict | None:
        body = (await http.get(f"{by_post.base_url}/v1/dossiers/{code}", headers=bearer(tokens["other-desk"]))).json()
        return body if (body.get("pickup") or {}).get("arrived_at") else None
    dossier = await eventually(arrived)
    assert dossier["pickup"]["tracking_number"] == pickup["tracking_number"]  # the desk sees it arrive


async def test_a_result_the_carrier_cannot_deliver_is_tried_again_then_comes_back_to_the_desk(
        by_post, tokens, carrier, clock, http) -> None:
    await carrier.set_behaviour(failed_delivery_attempts=10)
    code = await submit_by_post(by_post, http, tokens, "2.000635", pickup=False)
    await accept_and_complete(by_post, http, tokens, code)

    back = await leg_reaches(by_post, http, tokens["other-desk"], code, "return", "returned_to_sender")
    failed = [r["attempt"] for r in back["history"] if r["status"] == "delivery_failed" and r["applied"]]
    assert failed == [1, 2, 3]  # POSTAL_MAX_DELIVERY_ATTEMPTS, then back to the desk
    assert not back["fee_collected"]
    view = await routed_view(by_post, http, tokens["auditor"], code,
                             until=lambda v: v["result_back_at_desk_at"] is not None)
    assert view["national_status"] == 9

    handed = await http.post(f"{by_post.routing_url}/v1/routing/dossiers/{code}/handover",
                             headers=bearer(tokens["other-desk"]))
    assert handed.status_code == 200, handed.text
    await intake_status(by_post, http, tokens, code, 10)


async def test_orders_made_while_the_carrier_is_down_wait_and_go_out_once_it_is_back(
        by_post, tokens, carrier, clock, http) -> None:
    await carrier.set_behaviour(down_for_seconds=6)
    code = await submit_by_post(by_post, http, tokens, "2.000635", result_by_post=False)

    async def queued() -> dict | None:
        leg = leg_of(await shipments(by_post, http, tokens["auditor"], code), "pickup")
        return leg if leg is not None and leg["state"] == "ordering" and leg["pending_action"] == "order" else None
    assert (await eventually(queued))["order_id"] is None  # recorded, not sent: the carrier answers 503

    pickup = await leg_reaches(by_post, http, tokens["other-desk"], code, "pickup", "handed_to_agency")
    assert (await carrier.orders_per_leg())[(code, "pickup")] == 1
    assert pickup["fee_collected"]
