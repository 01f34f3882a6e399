"""From contract to envelope and back: lookup, strict reading, producer rules and upcasting."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import uuid4

import pytest
from pydantic import ValidationError

from infra.topics import load_spec
from shared_events import (
    CONTRACTS,
    DOSSIER_STATUS,
    INTAKE_DOSSIER_EVENTS,
    REGISTRY,
    CloudEvent,
    Contract,
    ContractError,
    ContractViolationError,
    DossierCode,
    DossierStatusChanged,
    DossierSubmitted,
    EnvelopeError,
    Registry,
    UnknownEventTypeError,
    Upcaster,
    decode,
    encode,
    from_cloud_event,
    parse_versioned_type,
    to_cloud_event,
)
from shared_events.examples import EXAMPLES, example, random_dossier_code
from shared_events.topics import AGENCY_INBOX_TOPICS, AGENCY_REPLY_TOPICS


def envelope_of(contract: Contract, registry: Registry = REGISTRY, **overrides: Any) -> CloudEvent:
    attributes: dict[str, Any] = dict(
        id=str(uuid4()),
        source="/lienthong/tests",
        subject=contract.subject,
        time=datetime.now(UTC),
        correlation_id=str(uuid4()),
    )
    attributes.update(overrides)
    return to_cloud_event(contract, registry=registry, **attributes)


def with_data(event: CloudEvent, **changes: Any) -> CloudEvent:
    return event.model_copy(update={"data": {**event.data, **changes}})


@pytest.mark.parametrize("model", CONTRACTS, ids=lambda model: model.__name__)
def test_every_contract_survives_the_trip_through_kafka_bytes(model):
    contract = example(model)

    received = from_cloud_event(decode(encode(envelope_of(contract))))

    assert received == contract
    assert type(received) is model


def test_the_envelope_carries_the_versioned_type_the_schema_and_both_ids():
    contract = example(DossierSubmitted)
    correlation_id, causation_id = str(uuid4()), str(uuid4())

    event = envelope_of(contract, correlation_id=correlation_id, causation_id=causation_id)

    assert event.type == "vn.lienthong.intake.dossier.submitted.v1"
    assert event.dataschema == DossierSubmitted.schema_uri()
    assert (event.correlationid, event.causationid) == (correlation_id, causation_id)
    assert event.subject == contract.subject


def test_the_default_registry_is_complete_and_consistent():
    REGISTRY.verify()

    assert set(REGISTRY.values()) == set(CONTRACTS) == set(EXAMPLES)
    assert all(model.TYPE.startswith("vn.lienthong.") for model in CONTRACTS)
    published_on = {topic.name for topic in load_spec()} | {AGENCY_INBOX_TOPICS, AGENCY_REPLY_TOPICS}
    assert {model.TOPIC for model in CONTRACTS} <= published_on
    assert {INTAKE_DOSSIER_EVENTS, DOSSIER_STATUS} <= {model.TOPIC for model in CONTRACTS}


def test_a_versioned_type_is_split_into_type_and_version():
    assert parse_versioned_type("vn.lienthong.intake.dossier.submitted.v12") == (
        "vn.lienthong.intake.dossier.submitted", 12)


@pytest.mark.parametrize("type_", [
    "vn.lienthong.intake.dossier.submitted", "vn.lienthong.intake.dossier.submitted.v0",
    "vn.lienthong.intake.dossier.submitted.V1", "submitted.v1.v2",
])
def test_a_type_without_a_proper_version_suffix_is_unknown(type_):
    with pytest.raises(UnknownEventTypeError, match="version suffix"):
        parse_versioned_type(type_)


def test_an_event_of_an_unknown_type_is_rejected():
    event = envelope_of(example(DossierSubmitted)).model_copy(update={"type": "vn.lienthong.tax.notice.issued.v1"})

    with pytest.raises(UnknownEventTypeError, match=r"unknown event type 'vn\.lienthong\.tax\.notice\.issued'"):
        from_cloud_event(event)


def test_an_event_newer_than_the_consumer_knows_asks_for_an_upgrade():
    event = envelope_of(example(DossierSubmitted)).model_copy(
        update={"type": "vn.lienthong.intake.dossier.submitted.v2"})

    with pytest.raises(UnknownEventTypeError, match="upgrade this consumer"):
        from_cloud_event(event)


def test_data_that_breaks_the_contract_is_rejected_naming_the_field_but_not_its_value():
    contract = example(DossierSubmitted)
    applicant = {**contract.applicant.model_dump(mode="json"), "identity_number": "12345"}
    event = with_data(envelope_of(contract), applicant=applicant)

    with pytest.raises(ContractViolationError) as rejected:
        from_cloud_event(event)

    assert "applicant.identity_number" in rejected.value.reason
    assert "12345" not in rejected.value.reason
    assert isinstance(rejected.value, ContractError)


@pytest.mark.parametrize(("field", "loose_value"), [
    ("national_status", "4"), ("changed_at", 1764293400), ("dossier_code", None), ("reason", 42),
])
def test_data_is_read_strictly_as_json_without_coercion(field, loose_value):
    event = with_data(envelope_of(example(DossierStatusChanged)), **{field: loose_value})

    with pytest.raises(ContractViolationError, match=field):
        from_cloud_event(event)


def test_a_boolean_is_not_accepted_as_a_document_size():
    event = envelope_of(example(DossierSubmitted))
    documents = [{**event.data["documents"][0], "size_bytes": True}]

    with pytest.raises(ContractViolationError, match="size_bytes"):
        from_cloud_event(with_data(event, documents=documents))


def test_a_field_added_by_a_newer_producer_is_ignored_by_an_older_consumer():
    contract = example(DossierSubmitted)
    event = envelope_of(contract)
    applicant = {**event.data["applicant"], "nationality": "VN"}

    received = from_cloud_event(with_data(event, priority="high", applicant=applicant))

    assert received == contract


def test_a_producer_cannot_build_a_contract_with_an_unknown_field():
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        DossierStatusChanged(**example(DossierStatusChanged).model_dump(), priority="high")


def test_a_subject_that_is_not_the_dossier_code_is_refused_on_both_sides():
    contract = example(DossierStatusChanged)
    with pytest.raises(ContractViolationError, match="subject"):
        envelope_of(contract, subject=random_dossier_code())

    event = envelope_of(contract).model_copy(update={"subject": random_dossier_code()})
    with pytest.raises(ContractViolationError, match="subject"):
        from_cloud_event(event)


def test_an_envelope_with_a_naive_time_is_refused_to_the_producer():
    with pytest.raises(EnvelopeError, match="time"):
        envelope_of(example(DossierStatusChanged), time=datetime(2025, 11, 28, 8, 30))


def test_a_contract_missing_from_the_registry_cannot_be_published():
    with pytest.raises(UnknownEventTypeError, match="not a registered contract"):
        envelope_of(example(DossierStatusChanged), registry=Registry())


def test_registering_a_type_with_a_version_suffix_is_refused():
    class Misnamed(Contract):
        TYPE: ClassVar[str] = "vn.lienthong.tests.misnamed.v1"
        VERSION: ClassVar[int] = 1
        TOPIC: ClassVar[str] = "lienthong.tests"

    with pytest.raises(ValueError, match="without a version suffix"):
        Registry([Misnamed])


# --- Upcasting -------------------------------------------------------------------------
#
# A test-only contract evolves the way a real one would: v1 carried the appointment date
# as one free-text field "appointment"; v2 renamed it "appointment_date" and made it a
# date, which breaks v1 readers, so v2 is a new version with an upcaster from v1.

NOTED = "vn.lienthong.tests.appointment.noted"


class AppointmentNotedV1(Contract):
    TYPE: ClassVar[str] = NOTED
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = "lienthong.tests"

    dossier_code: DossierCode
    appointment: str


class AppointmentNoted(Contract):
    TYPE: ClassVar[str] = NOTED
    VERSION: ClassVar[int] = 2
    TOPIC: ClassVar[str] = "lienthong.tests"

    dossier_code: DossierCode
    appointment_date: str
    rescheduled: bool = False


def appointment_v1_to_v2(data: dict) -> dict:
    day, month, year = data.pop("appointment").split("/")
    return {**data, "appointment_date": f"{year}-{month}-{day}"}


def a_registry_with_both_versions(*upcasters: Upcaster) -> Registry:
    return Registry([AppointmentNotedV1, AppointmentNoted], upcasters)


def a_stored_v1_event(appointment: str = "05/12/2025") -> CloudEvent:
    code = random_dossier_code()
    return CloudEvent(
        specversion="1.0", id=str(uuid4()), source="/lienthong/tests", type=f"{NOTED}.v1", subject=code,
        time=datetime.now(UTC), correlationid=str(uuid4()),
        data={"dossier_code": code, "appointment": appointment},
    )


def test_an_old_version_is_upcast_so_the_consumer_receives_the_newest():
    registry = a_registry_with_both_versions(Upcaster(NOTED, 1, appointment_v1_to_v2))
    stored = a_stored_v1_event("05/12/2025")

    received = from_cloud_event(decode(encode(stored)), registry=registry)

    assert received == AppointmentNoted(dossier_code=stored.subject, appointment_date="2025-12-05")


def test_an_upcaster_can_be_registered_after_the_contracts():
    registry = a_registry_with_both_versions()
    registry.register_upcaster(NOTED, 1, appointment_v1_to_v2)

    registry.verify()
    assert isinstance(from_cloud_event(a_stored_v1_event(), registry=registry), AppointmentNoted)


def test_an_upcast_event_does_not_change_the_stored_envelope():
    registry = a_registry_with_both_versions(Upcaster(NOTED, 1, appointment_v1_to_v2))
    stored = a_stored_v1_event()
    before = json.dumps(stored.data)

    from_cloud_event(stored, registry=registry)

    assert json.dumps(stored.data) == before


def test_producers_may_emit_only_the_newest_version():
    registry = a_registry_with_both_versions(Upcaster(NOTED, 1, appointment_v1_to_v2))
    old = AppointmentNotedV1(dossier_code=random_dossier_code(), appointment="05/12/2025")

    with pytest.raises(ContractViolationError, match="producers emit only the newest"):
        envelope_of(old, registry=registry)


def test_an_old_version_without_an_upcaster_cannot_be_read_and_fails_verification():
    registry = a_registry_with_both_versions()

    with pytest.raises(ValueError, match="no upcaster from v1"):
        registry.verify()
    with pytest.raises(UnknownEventTypeError, match="no upcaster from v1"):
        from_cloud_event(a_stored_v1_event(), registry=registry)


def test_old_data_is_checked_against_its_own_contract_before_upcasting():
    registry = a_registry_with_both_versions(Upcaster(NOTED, 1, appointment_v1_to_v2))
    stored = a_stored_v1_event()
    broken = stored.model_copy(update={"data": {"dossier_code": stored.subject}})

    with pytest.raises(ContractViolationError,
                       match=r"appointment\.noted\.v1 breaks its contract: appointment: missing"):
        from_cloud_event(broken, registry=registry)


def test_an_upcaster_that_fails_is_reported_as_a_contract_violation():
    registry = a_registry_with_both_versions(Upcaster(NOTED, 1, appointment_v1_to_v2))

    with pytest.raises(ContractViolationError, match=r"upcasting .* from v1 to v2 failed: ValueError"):
        from_cloud_event(a_stored_v1_event("next Tuesday"), registry=registry)


def test_an_upcaster_towards_no_registered_version_fails_verification():
    registry = Registry([AppointmentNotedV1], [Upcaster(NOTED, 1, appointment_v1_to_v2)])

    with pytest.raises(ValueError, match="leads to no registered model"):
        registry.verify()
