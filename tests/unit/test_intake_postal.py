"""Intake and the public postal service (bưu chính công ích), on in-memory persistence: a pickup at home
asked for at submission (only from the citizen's portal, only for a procedure that takes dossiers by
post, in a commune in force), the delivery address's unit, the pickup handed to the desk, and which
topic each contract is accepted from."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from intake.api import INTAKE_ERRORS, DossierCreate, fingerprint, to_command, to_public
from intake.application import DossierIntake, DossierView, IntakeApplication, SubmissionRejectedError
from intake.catalogue import Catalogue
from intake.domain import Dossier
from intake.outbound import to_outbound
from intake.reactions import HANDLERS, POSTAL, STATUS, Reactions, apply_status_change
from intake.reference import ReferenceData
from intake.settings import IntakeSettings
from services.auth import PartyKind, Principal
from services.clock import FixedClock
from services.consumer import UnprocessableMessage
from services.eventstore import EventStore
from shared_events import DossierStatusChanged, DossierSubmitted, NationalStatus, to_cloud_event
from shared_events.contracts.postal import CONTRACTS, PickupHandedToAgency
from shared_events.examples import example
from shared_events.topics import POSTAL_EVENTS
from tests.random_refs import random_agency_id, random_suffix
from tests.support.builders import CountingCodes, a_dossier, a_moment, a_submission
from tests.support.intake import COMMUNE

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
NOW = datetime(2025, 11, 28, 2, 0, tzinfo=UTC)
STATUS_TOPIC, POSTAL_TOPIC = f"status-{random_suffix()}", f"postal-{random_suffix()}"
CHANNEL_OF = {"desk": "desk", "portal": "online", "postal": "post"}


class FakeDocuments:
    """Every document is one the caller uploaded (the refusals are tests/unit/test_document_uploads_intake.py's)."""

    async def check_references(self, client_id: str, documents: Any, *, field: str = "documents") -> list[Any]:
        return []

    async def attach(self, client_id: str, hashes: Any, dossier_code: str, at: datetime) -> list[str]:
        return []


@pytest.fixture(scope="module")
def reference() -> ReferenceData:
    return ReferenceData.load()


def intake_with(store: EventStore[IntakeApplication], codes: CountingCodes, reference: ReferenceData,
                catalogue: Catalogue | None = None) -> DossierIntake:
    return DossierIntake(store, catalogue=catalogue or Catalogue.load(), reference=reference, codes=codes,  # type: ignore[arg-type]
                         documents=FakeDocuments(), clock=FixedClock(NOW))


@pytest.fixture
def intake(intake_store: EventStore[IntakeApplication], codes: CountingCodes,
           reference: ReferenceData) -> DossierIntake:
    return intake_with(intake_store, codes, reference)


def a_party(party: PartyKind) -> Principal:
    return Principal(client_id=f"{party}-{random_suffix()}", party=party,
                     agency_id="000.00.01.H40" if party == "desk" else None,
                     roles=frozenset({"dossier:submit", "dossier:read"}))


def a_pickup(**overrides: Any) -> dict[str, Any]:
    pickup = {"address": f"Số {random_suffix()} đường Lê Lợi, phường Trường Vinh", "unit_code": COMMUNE,
              "phone": "0912345678"}
    pickup.update(overrides)
    return pickup


def a_command(party: PartyKind = "portal", **overrides: Any) -> Any:
    return to_command(DossierCreate.model_validate(a_submission(channel=CHANNEL_OF[party], **overrides)), None)


async def rejected(intake: DossierIntake, command: Any, party: PartyKind = "portal") -> list[tuple[str, str, str]]:
    with pytest.raises(SubmissionRejectedError) as refusal:
        await intake.submit(command, a_party(party), None)
    return [(p.field, p.code, p.message_vi) for p in refusal.value.problems]


def merged_commune(reference: ReferenceData, on: date) -> str:
    """A commune merged away before ``on`` whose code no unit in force that day has."""
    return next(u.code for u in reference.geography.units
                if u.level == "commune" and u.effective_to is not None and u.successors
                and not any(v.code == u.code and v.in_force(on) for v in reference.geography.units))


# --- submission ---------------------------------------------------------------------------------------------


async def test_the_portal_may_ask_for_a_pickup_at_home_and_the_submitted_event_carries_it(
        intake: DossierIntake) -> None:
    pickup = a_pickup()

    view = await intake.submit(a_command(pickup=pickup), a_party("portal"), None)

    assert view.dossier.pickup == pickup
    [submitted] = view.history
    outbound = to_outbound(submitted)
    assert outbound is not None and isinstance(outbound.contract, DossierSubmitted)
    assert outbound.contract.pickup is not None
    assert outbound.contract.pickup.model_dump(mode="json") == pickup
    public = to_public(view).pickup
    assert public is not None
    assert (public.address, public.unit_code, public.phone, public.arrived_at) == (
        pickup["address"], COMMUNE, "0912345678", None)


async def test_a_submission_without_a_pickup_shows_none_and_publishes_none(intake: DossierIntake) -> None:
    view = await intake.submit(a_command(), a_party("portal"), None)

    assert view.dossier.pickup is None and to_public(view).pickup is None
    outbound = to_outbound(view.history[0])
    assert outbound is not None and outbound.contract.pickup is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(("party", "why"), [
    ("desk", "đem hồ sơ đến quầy"), ("postal", "bưu chính công ích thu gom"),
], ids=["the desk", "a postal partner"])
async def test_a_pickup_asked_for_by_anyone_but_the_portal_is_not_offered_and_takes_no_code(
        intake: DossierIntake, codes: CountingCodes, party: PartyKind, why: str) -> None:
    [(field, code, message)] = await rejected(intake, a_command(party, pickup=a_pickup()), party)

    assert (field, code) == ("pickup", "pickup_not_offered")
    assert "Cổng dịch vụ công" in message and why in message
    assert codes.taken == []


async def test_a_pickup_for_a_procedure_that_takes_no_dossier_by_post_is_not_offered(
        intake_store: EventStore[IntakeApplication], codes: CountingCodes, reference: ReferenceData) -> None:
    packaged = Catalogue.load()
    no_post = Catalogue(v.model_copy(update={"channels": ("desk", "online")}) if v.code == "2.000635" else v
                        for code in packaged.codes() for v in packaged.versions(code))
    intake = intake_with(intake_store, codes, reference, no_post)

    [(field, code, message)] = await rejected(intake, a_command(pickup=a_pickup()))

    assert (field, code) == ("pickup", "pickup_not_offered")
    assert "không tiếp nhận hồ sơ qua dịch vụ bưu chính công ích" in message
    assert codes.taken == []


@pytest.mark.parametrize("unit_code", ["99999", "40", "412"], ids=["no unit", "a province", "a district"])
async def test_a_pickup_outside_any_commune_in_force_is_refused_naming_its_unit(
        intake: DossierIntake, codes: CountingCodes, unit_code: str) -> None:
    [(field, code, message)] = await rejected(intake, a_command(pickup=a_pickup(unit_code=unit_code)))

    assert (field, code) == ("pickup.unit_code", "pickup_unit_unknown")
    assert unit_code in message and "28/11/2025" in message
    assert codes.taken == []


async def test_a_pickup_in_a_commune_merged_away_before_the_day_of_receipt_is_refused(
        intake: DossierIntake, reference: ReferenceData) -> None:
    merged = merged_commune(reference, NOW.date())

    problems = await rejected(intake, a_command(pickup=a_pickup(unit_code=merged)))

    assert [(f, c) for f, c, _ in problems] == [("pickup.unit_code", "pickup_unit_unknown")]


async def test_the_delivery_addresss_unit_must_be_a_commune_in_force(intake: DossierIntake,
                                                                     codes: CountingCodes) -> None:
    delivery = {"method": "post", "address": "Số 1 đường Lê Lợi", "unit_code": "99999"}

    problems = await rejected(intake, a_command(result_delivery=delivery))

    assert [(f, c) for f, c, _ in problems] == [("result_delivery.unit_code", "delivery_unit_unknown")]
    assert codes.taken == []


async def test_a_delivery_by_post_to_a_commune_in_force_is_stored_with_its_unit(intake: DossierIntake) -> None:
    delivery = {"method": "post", "address": "Số 1 đường Lê Lợi", "unit_code": COMMUNE}

    view = await intake.submit(a_command(result_delivery=delivery), a_party("portal"), None)

    assert view.dossier.result_delivery == {"method": "post", "address": "Số 1 đường Lê Lợi", "unit_code": COMMUNE}


def test_a_delivery_unit_without_delivery_by_post_is_refused_by_the_schema() -> None:
    with pytest.raises(ValidationError, match="only allowed when the result is delivered by post"):
        DossierCreate.model_validate(a_submission(result_delivery={"method": "desk", "unit_code": COMMUNE}))


async def test_every_pickup_problem_is_reported_at_once_as_one_422_problem(intake: DossierIntake) -> None:
    command = a_command("desk", pickup=a_pickup(unit_code="99999"),
                        result_delivery={"method": "post", "address": "Số 1", "unit_code": "99999"})

    with pytest.raises(SubmissionRejectedError) as refusal:
        await intake.submit(command, a_party("desk"), None)

    problem = INTAKE_ERRORS.problem(refusal.value)
    assert problem.status == 422
    assert [(e.name, e.code) for e in problem.errors or []] == [
        ("pickup", "pickup_not_offered"), ("pickup.unit_code", "pickup_unit_unknown"),
        ("result_delivery.unit_code", "delivery_unit_unknown")]


def test_a_request_without_the_postal_fields_keeps_the_fingerprint_it_had_before_they_existed() -> None:
    body = a_submission()
    before = DossierCreate.model_validate(body).model_dump(mode="json")
    del before["pickup"], before["result_delivery"]["unit_code"]  # the request as it was read before them

    expected = hashlib.sha256(json.dumps(before, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    assert fingerprint(DossierCreate.model_validate(body)) == expected
    assert fingerprint(DossierCreate.model_validate(dict(body, pickup=a_pickup()))) != expected


# --- the pickup handed to the desk ----------------------------------------------------------------------------


def reactions() -> Reactions:
    return Reactions(status_topic=STATUS_TOPIC, postal_topic=POSTAL_TOPIC)


def react(app: IntakeApplication, contract: Any, topic: str = POSTAL_TOPIC) -> list[Any]:
    envelope = to_cloud_event(contract, id=str(uuid4()), source="/lienthong/postal", subject=contract.dossier_code,
                              time=datetime.now(UTC), correlation_id=str(uuid4()))
    changed = reactions()(app, contract, envelope, topic)
    app.save(*changed)
    return changed


def a_dossier_with_a_pickup(app: IntakeApplication) -> Dossier:
    dossier = a_dossier(pickup=a_pickup())
    app.submit(dossier, None)
    return dossier


def handed(dossier: Dossier, **overrides: Any) -> PickupHandedToAgency:
    fields: dict[str, Any] = {"dossier_code": dossier.code, "agency_id": dossier.receiving_agency_id,
                              "partner_id": "vnpost", "tracking_number": f"EB{random_suffix()}VN",
                              "handed_at": a_moment()}
    fields.update(overrides)
    return PickupHandedToAgency(**fields)


def test_a_pickup_handed_to_the_desk_is_recorded_once_and_shown_with_the_dossier() -> None:
    app = IntakeApplication(env=IN_MEMORY)
    dossier = a_dossier_with_a_pickup(app)
    report = handed(dossier)

    [changed] = react(app, report)
    again = react(app, report)

    assert again == []
    assert [type(e).__name__ for e in app.history(dossier.code)] == ["Submitted", "ArrivedByPost"]
    public = to_public(DossierView(app.dossier(dossier.code), app.history(dossier.code)))
    assert public.pickup is not None
    assert (public.pickup.arrived_at, public.pickup.tracking_number, public.pickup.partner_id) == (
        report.handed_at, report.tracking_number, "vnpost")
    assert (public.history[-1].event, public.history[-1].by) == ("ArrivedByPost", "postal:vnpost")
    assert changed.national_status == NationalStatus.NEW


def test_a_pickup_handed_over_for_a_dossier_that_asked_for_none_is_dead_lettered() -> None:
    app = IntakeApplication(env=IN_MEMORY)
    dossier = a_dossier()
    app.submit(dossier, None)

    with pytest.raises(UnprocessableMessage, match="no pickup was requested"):
        react(app, handed(dossier))

    assert [type(e).__name__ for e in app.history(dossier.code)] == ["Submitted"]


@pytest.mark.parametrize("contradiction", [
    lambda d: {"agency_id": random_agency_id()},
    lambda d: {"tracking_number": f"EB{random_suffix()}VN"},
], ids=["another desk", "a second parcel"])
def test_a_pickup_report_that_contradicts_the_dossier_is_dead_lettered(contradiction: Any) -> None:
    app = IntakeApplication(env=IN_MEMORY)
    dossier = a_dossier_with_a_pickup(app)
    if "tracking_number" in contradiction(dossier):
        react(app, handed(dossier))

    with pytest.raises(UnprocessableMessage, match="refused: "):
        react(app, handed(dossier, **contradiction(dossier)))


def test_a_pickup_handed_over_for_an_unknown_dossier_is_dead_lettered() -> None:
    app = IntakeApplication(env=IN_MEMORY)

    with pytest.raises(UnprocessableMessage, match="no dossier"):
        react(app, handed(a_dossier()))


# --- which topic each contract is accepted from ---------------------------------------------------------------


def test_every_postal_contract_is_listed_for_the_postal_topic() -> None:
    assert {t for t, (kind, _) in HANDLERS.items() if kind == POSTAL} == set(CONTRACTS)


def a_contract_of(contract_type: type, code: str) -> Any:
    if contract_type is DossierStatusChanged:
        return DossierStatusChanged(dossier_code=code, national_status=4, changed_at=datetime.now(UTC))
    return example(contract_type, dossier_code=code)


TOPIC_OF_KIND = {STATUS: STATUS_TOPIC, POSTAL: POSTAL_TOPIC}


@pytest.mark.parametrize("contract_type", list(HANDLERS), ids=[t.__name__ for t in HANDLERS])
def test_every_contract_on_the_topic_of_the_other_kind_is_dead_lettered_with_the_reason(
        contract_type: type) -> None:
    app = IntakeApplication(env=IN_MEMORY)
    dossier = a_dossier_with_a_pickup(app)
    kind, _ = HANDLERS[contract_type]
    [wrong_topic] = [topic for other, topic in TOPIC_OF_KIND.items() if other != kind]

    with pytest.raises(UnprocessableMessage, match=f"is not accepted on {wrong_topic}"):
        react(app, a_contract_of(contract_type, dossier.code), wrong_topic)

    assert len(app.history(dossier.code)) == 1


def test_the_status_handler_on_its_own_still_refuses_postal_contracts() -> None:
    app = IntakeApplication(env=IN_MEMORY)
    dossier = a_dossier_with_a_pickup(app)
    report = handed(dossier)
    envelope = to_cloud_event(report, id=str(uuid4()), source="/lienthong/postal", subject=dossier.code,
                              time=datetime.now(UTC), correlation_id=str(uuid4()))

    with pytest.raises(UnprocessableMessage, match="not accepted on the status topic"):
        apply_status_change(app, report, envelope)


def test_a_topic_intake_does_not_read_accepts_nothing() -> None:
    app = IntakeApplication(env=IN_MEMORY)
    dossier = a_dossier_with_a_pickup(app)

    with pytest.raises(UnprocessableMessage, match="intake reads nothing from"):
        react(app, handed(dossier), f"other-{random_suffix()}")


PASSED_BY = [t for t, (kind, _) in HANDLERS.items() if kind == POSTAL and t is not PickupHandedToAgency]


@pytest.mark.parametrize("contract_type", PASSED_BY, ids=[t.__name__ for t in PASSED_BY])
def test_the_other_postal_contracts_are_passed_by_changing_nothing(contract_type: type) -> None:
    app = IntakeApplication(env=IN_MEMORY)
    dossier = a_dossier_with_a_pickup(app)

    assert react(app, example(contract_type, dossier_code=dossier.code)) == []
    assert [type(e).__name__ for e in app.history(dossier.code)] == ["Submitted"]


def test_the_consumer_reads_the_postal_topic_named_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert IntakeSettings().postal_topic == POSTAL_EVENTS
    topic = f"postal-{random_suffix()}"
    monkeypatch.setenv("INTAKE_POSTAL_TOPIC", topic)

    settings = IntakeSettings()

    assert Reactions(status_topic=settings.status_topic, postal_topic=settings.postal_topic).topics == [
        settings.status_topic, topic]
