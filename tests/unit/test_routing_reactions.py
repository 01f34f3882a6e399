"""How routing reacts to intake's events and to stream-integrated agencies' replies, on the
in-memory event store: what each contract does to the dossier, that a repeated event changes
nothing, and which topic each contract is accepted from."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import pytest

from routing.application import Actor, RoutingApplication, StepAction, Trace
from routing.domain import RoutedDossier
from routing.reactions import HANDLERS, INTAKE, POSTAL, REPLIES, Reactions, ReplyPolicy
from routing.settings import RoutingSettings
from services.consumer import UnprocessableMessage
from shared_events import (
    DossierAccepted,
    DossierRefusedAtIntake,
    DossierSubmitted,
    DossierWithdrawalRequested,
    DossierWithdrawn,
)
from shared_events.contracts.documents import DossierContentRead
from shared_events.contracts.routing import AgencyActed
from shared_events.examples import example
from tests.random_refs import random_agency_id, random_citizen_id, random_name, random_sha256
from tests.support.builders import CIVIL_STATUS, LOCALITY, POLICE, SOCIAL_INSURANCE, a_document, an_envelope, vn

INTAKE_TOPIC = f"intake-{uuid.uuid4().hex[:8]}"
POSTAL_TOPIC = f"postal-{uuid.uuid4().hex[:8]}"
PREFIX = "agency."
NOW = vn(7, 7, 15)


class FakeClock:
    def now(self) -> datetime:
        return NOW


@cache
def application() -> RoutingApplication:
    return RoutingApplication()


def reactions() -> Reactions:
    settings = RoutingSettings(agency_inbox_prefix=PREFIX)
    topics = {settings.agency_reply_topic(a): a for a in (POLICE, SOCIAL_INSURANCE, CIVIL_STATUS)}
    return Reactions(intake_topic=INTAKE_TOPIC, postal_topic=POSTAL_TOPIC, policy=ReplyPolicy(
        agency_of_reply_topic=topics.get, clock=FakeClock(), max_skew=timedelta(minutes=5)))


def reply_topic(agency_id: str) -> str:
    return RoutingSettings(agency_inbox_prefix=PREFIX).agency_reply_topic(agency_id)


def a_code() -> str:
    return f"{random_agency_id()}-250707-{random.randint(1, 9999):04d}"


def submitted(code: str, national_status: int = 2, procedure: str = "1.001193") -> DossierSubmitted:
    return DossierSubmitted(
        dossier_code=code, dossier_id=uuid.uuid4(), procedure_code=procedure, procedure_version="test",
        applicant={"kind": "citizen", "full_name": random_name(), "identity_number": random_citizen_id()},
        documents=[{"name": "to_khai", "media_type": "application/pdf", "size_bytes": 90_000,
                    "sha256": random_sha256()}],
        channel="desk" if national_status == 2 else "online", result_delivery={"method": "desk"},
        locality_code=LOCALITY, receiving_agency_id=code.rsplit("-", 2)[0], submitted_by="desk-test",
        received_at=vn(7, 7, 9), national_status=national_status)


def react(contract: Any, topic: str = INTAKE_TOPIC) -> list[RoutedDossier]:
    """Run the reaction to ``contract`` arriving on ``topic`` and save what it returns."""
    app = application()
    envelope = an_envelope(contract, vn(7, 7, 9))
    changed = reactions()(app, contract, envelope, topic)
    for dossier in changed:
        app.save_dossier(dossier)
    return changed


def names(code: str) -> list[str]:
    return [type(e).__name__ for e in application().history(code)]


# --- intake's events -------------------------------------------------------------------------------------


def test_a_dossier_submitted_at_the_desk_is_received_and_routed_at_once() -> None:
    code = a_code()

    [dossier] = react(submitted(code))

    assert names(code) == ["Received", "RouteAssigned", "StepOpened"]
    assert dossier.national_status == 4 and dossier.step("birth_registration").state == "open"


def test_a_dossier_submitted_twice_is_received_once() -> None:
    code = a_code()
    react(submitted(code))

    assert react(submitted(code)) == []
    assert names(code) == ["Received", "RouteAssigned", "StepOpened"]


def test_an_online_dossier_waits_for_intakes_acceptance_before_it_is_routed_and_is_routed_once() -> None:
    code = a_code()
    react(submitted(code, national_status=1))
    assert names(code) == ["Received"]

    react(DossierAccepted(dossier_code=code, accepted_by="desk-1", accepted_at=vn(7, 7, 10)))
    again = react(DossierAccepted(dossier_code=code, accepted_by="desk-1", accepted_at=vn(7, 7, 11)))

    assert names(code) == ["Received", "RouteAssigned", "StepOpened"]
    assert again == []
    assert application().dossier(code).step("birth_registration").opened_at is not None


def test_a_refusal_at_intake_closes_an_unrouted_dossier_once() -> None:
    code = a_code()
    react(submitted(code, national_status=1))
    refusal = DossierRefusedAtIntake(dossier_code=code, refused_by="desk-1", reason="Thiếu giấy tờ",
                                     refused_at=vn(7, 7, 10))

    react(refusal)

    assert react(refusal) == []
    assert names(code) == ["Received", "ClosedAtIntake"]
    assert application().dossier(code).national_status == 3


@pytest.mark.parametrize("request_of", [
    lambda code: DossierWithdrawalRequested(dossier_code=code, requested_by="citizen-1", reason="Không cần nữa",
                                            requested_at=vn(7, 7, 10)),
    lambda code: DossierWithdrawn(dossier_code=code, reason="Không cần nữa", withdrawn_at=vn(7, 7, 10)),
], ids=["withdrawal requested", "legacy withdrawn"])
def test_a_withdrawal_request_and_the_legacy_withdrawn_event_both_withdraw_a_dossier_in_processing(
        request_of: Any) -> None:
    code = a_code()
    react(submitted(code))

    react(request_of(code))

    assert names(code)[-1] == "Withdrawn"
    assert application().dossier(code).national_status == 7


def test_an_event_about_a_dossier_routing_never_received_is_dead_lettered() -> None:
    accepted = DossierAccepted(dossier_code=a_code(), accepted_by="desk-1", accepted_at=vn(7, 7, 10))

    with pytest.raises(UnprocessableMessage, match="no dossier"):
        react(accepted)


# --- agencies' replies -----------------------------------------------------------------------------------


def at_police_step() -> str:
    """A birth registration whose police step (a stream-integrated agency's) is open."""
    code = a_code()
    react(submitted(code))
    actor = Actor(party="agency", agency_id=CIVIL_STATUS, client_id="civil-status")
    application().act_on_step(actor, StepAction(code=code, step_key="birth_registration", agency_id=CIVIL_STATUS,
                                                action="complete", at=vn(7, 7, 14), documents=[a_document()]),
                              Trace())
    return code


def test_a_stream_agencys_claim_and_completion_on_its_reply_topic_are_applied() -> None:
    code = at_police_step()

    react(AgencyActed(dossier_code=code, step_key="residence_registration", agency_id=POLICE, action="claim",
                      acted_at=vn(7, 7, 14, 30)), reply_topic(POLICE))
    react(AgencyActed(dossier_code=code, step_key="residence_registration", agency_id=POLICE, action="complete",
                      acted_at=vn(7, 7, 14, 45), documents=[a_document()]), reply_topic(POLICE))

    step = application().dossier(code).step("residence_registration")
    assert (step.state, step.claimed_by, step.completed_at) == ("done", POLICE, vn(7, 7, 14, 45))
    assert names(code)[-2:] == ["StepClaimed", "StepCompleted"]


def test_a_reply_the_dossier_refuses_is_dead_lettered_with_the_domain_errors_name() -> None:
    code = at_police_step()
    reply = AgencyActed(dossier_code=code, step_key="residence_registration", agency_id=POLICE,
                        action="send_back", reason="Sai thông tin cư trú", acted_at=vn(7, 7, 14, 30))
    react(reply, reply_topic(POLICE))

    with pytest.raises(UnprocessableMessage, match="StepStateError"):
        react(reply, reply_topic(POLICE))


# --- which topic each contract is accepted from -----------------------------------------------------------


def a_contract_of(contract_type: type, code: str) -> Any:
    examples = {
        DossierSubmitted: lambda: submitted(code),
        DossierAccepted: lambda: DossierAccepted(dossier_code=code, accepted_by="desk-1", accepted_at=vn(7, 7, 10)),
        DossierRefusedAtIntake: lambda: DossierRefusedAtIntake(dossier_code=code, refused_by="desk-1",
                                                               reason="Thiếu giấy tờ", refused_at=vn(7, 7, 10)),
        DossierWithdrawalRequested: lambda: DossierWithdrawalRequested(
            dossier_code=code, requested_by="citizen-1", reason="Không cần nữa", requested_at=vn(7, 7, 10)),
        DossierWithdrawn: lambda: DossierWithdrawn(dossier_code=code, reason="Không cần nữa",
                                                   withdrawn_at=vn(7, 7, 10)),
        AgencyActed: lambda: AgencyActed(dossier_code=code, step_key="residence_registration", agency_id=POLICE,
                                         action="claim", acted_at=vn(7, 7, 14)),
        DossierContentRead: lambda: example(DossierContentRead, dossier_code=code, reader_party="desk",
                                            purpose="dossier", via="rest", step_key=None),
    }
    make = examples.get(contract_type)
    return make() if make is not None else example(contract_type, dossier_code=code)


TOPIC_OF_KIND = {INTAKE: INTAKE_TOPIC, REPLIES: reply_topic(POLICE), POSTAL: POSTAL_TOPIC}

WRONG_TOPICS = [(contract_type, kind) for contract_type, (accepted_on, _) in HANDLERS.items()
                for kind in TOPIC_OF_KIND if kind != accepted_on]


@pytest.mark.parametrize(("contract_type", "kind"), WRONG_TOPICS,
                         ids=[f"{t.__name__} on {kind}" for t, kind in WRONG_TOPICS])
def test_every_handled_contract_is_dead_lettered_on_a_topic_of_another_kind(contract_type: type, kind: str) -> None:
    contract = a_contract_of(contract_type, a_code())

    with pytest.raises(UnprocessableMessage, match="is not accepted on"):
        react(contract, TOPIC_OF_KIND[kind])


def test_a_topic_that_is_neither_intakes_postals_nor_a_reply_topic_accepts_nothing() -> None:
    assert reactions().kind_of(f"other-{uuid.uuid4().hex[:6]}") is None
    assert {kind for kind, _ in HANDLERS.values()} == {INTAKE, REPLIES, POSTAL}
    with pytest.raises(UnprocessableMessage, match="is not accepted on"):
        react(submitted(a_code()), "lienthong.routing.dossier-events")


def test_intakes_record_of_a_read_is_passed_by_changing_nothing() -> None:
    code = a_code()
    react(submitted(code))
    before = len(application().history(code))
    read = a_contract_of(DossierContentRead, code)

    assert react(read) == []
    assert len(application().history(code)) == before
