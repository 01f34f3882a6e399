"""Which stored intake events leave the service, as which published contract."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from intake.domain import Dossier, SubmissionKey
from intake.outbound import KEPT_INSIDE, PUBLISHED, to_outbound
from services.documents.readlog import Reader, ReadLog, ReadOf
from services.relay import Outbound
from shared_events import (
    Applicant,
    DossierAccepted,
    DossierRefusedAtIntake,
    DossierSubmitted,
    DossierWithdrawalRequested,
    DossierWithdrawn,
    ResultDelivery,
    SubmittedDocument,
    decode,
    deterministic_event_id,
    encode,
    from_cloud_event,
    to_cloud_event,
)
from shared_events.contracts.documents import DossierContentRead
from tests.random_refs import random_agency_id, random_sha256, random_suffix
from tests.support.builders import a_dossier, a_moment


def outbound_of(event: object) -> Outbound:
    outbound = to_outbound(event)
    assert outbound is not None
    return outbound


def last_event(dossier: Dossier) -> object:
    return dossier.collect_events()[-1]


def test_a_submitted_dossier_maps_to_dossier_submitted_with_the_same_fields() -> None:
    dossier = a_dossier(channel="post", result_delivery={"method": "post", "address": "12 Lê Lợi, Vinh"},
                        options=["funeral_allowance"])
    [submitted] = dossier.collect_events()

    outbound = outbound_of(submitted)

    contract = outbound.contract
    assert isinstance(contract, DossierSubmitted)
    assert (outbound.subject, outbound.correlation_id) == (dossier.code, dossier.correlation_id)
    assert contract.dossier_code == dossier.code
    assert contract.dossier_id == dossier.id
    assert (contract.procedure_code, contract.procedure_version) == (dossier.procedure_code,
                                                                     dossier.procedure_version)
    assert contract.applicant == Applicant(**dossier.applicant)
    assert contract.documents == tuple(SubmittedDocument(**d) for d in dossier.documents)
    assert contract.channel == dossier.channel
    assert contract.result_delivery == ResultDelivery(**dossier.result_delivery)
    assert contract.locality_code == dossier.locality_code
    assert contract.receiving_agency_id == dossier.receiving_agency_id
    assert contract.submitted_by == dossier.submitted_by
    assert contract.received_at == dossier.received_at
    assert contract.national_status == dossier.national_status
    assert contract.options == ("funeral_allowance",)


@pytest.mark.parametrize("channel", ["desk", "online"])
def test_a_submitted_dossier_keeps_its_status_at_receipt(channel: str) -> None:
    dossier = a_dossier(channel=channel)

    assert outbound_of(last_event(dossier)).contract.national_status == dossier.national_status


def test_an_accepted_dossier_maps_to_dossier_accepted_carrying_its_code() -> None:
    dossier = a_dossier()
    officer, at, correlation_id = f"desk-{random_suffix()}", a_moment(), str(uuid4())
    dossier.accept(by=officer, at=at, correlation_id=correlation_id)

    outbound = outbound_of(last_event(dossier))

    assert outbound.contract == DossierAccepted(dossier_code=dossier.code, accepted_by=officer, accepted_at=at)
    assert (outbound.subject, outbound.correlation_id) == (dossier.code, correlation_id)


def test_a_refused_dossier_maps_to_dossier_refused_at_intake_carrying_its_code() -> None:
    dossier = a_dossier()
    officer, at, reason = f"desk-{random_suffix()}", a_moment(), f"Thiếu tờ khai {random_suffix()}"
    dossier.refuse(by=officer, reason=reason, at=at, correlation_id=None)

    outbound = outbound_of(last_event(dossier))

    assert outbound.contract == DossierRefusedAtIntake(dossier_code=dossier.code, refused_by=officer,
                                                       reason=reason, refused_at=at)
    assert outbound.subject == dossier.code


def test_a_withdrawal_request_maps_to_dossier_withdrawal_requested_carrying_its_code() -> None:
    dossier = a_dossier()
    at, reason, correlation_id = a_moment(), f"Không còn nhu cầu {random_suffix()}", str(uuid4())
    dossier.request_withdrawal(by=dossier.submitted_by, reason=reason, at=at, correlation_id=correlation_id)

    outbound = outbound_of(last_event(dossier))

    assert outbound.contract == DossierWithdrawalRequested(dossier_code=dossier.code, requested_by=dossier.submitted_by,
                                                           reason=reason, requested_at=at)
    assert (outbound.subject, outbound.correlation_id) == (dossier.code, correlation_id)


def test_a_withdrawal_stored_before_routing_owned_status_7_still_maps_to_dossier_withdrawn() -> None:
    dossier = a_dossier()
    at, reason = a_moment(), f"Không còn nhu cầu {random_suffix()}"
    dossier._withdrawn(dossier_code=dossier.code, withdrawn_by=dossier.submitted_by, reason=reason, withdrawn_at=at,
                       correlation_id=None)

    outbound = outbound_of(last_event(dossier))

    assert outbound.contract == DossierWithdrawn(dossier_code=dossier.code, reason=reason, withdrawn_at=at)


def test_a_declined_withdrawal_stays_inside_intake() -> None:
    dossier = a_dossier(channel="desk")
    dossier.request_withdrawal(by=dossier.submitted_by, reason="Rút", at=a_moment(), correlation_id=None)
    dossier.record_withdrawal_declined(event_id=str(uuid4()), reason="Đã xong", declined_at=a_moment())

    assert to_outbound(last_event(dossier)) is None


def test_every_event_type_of_intake_is_either_published_or_kept_inside_on_purpose() -> None:
    event_types = {value for owner in (Dossier, SubmissionKey, ReadLog) for value in vars(owner).values()
                   if isinstance(value, type) and issubclass(value, owner.Event)
                   and value not in (owner.Event, owner.Created)}  # the library's base classes

    assert event_types == set(PUBLISHED) | KEPT_INSIDE
    assert not set(PUBLISHED) & KEPT_INSIDE


def test_a_read_of_the_applicants_data_is_published_for_the_audit_ledger() -> None:
    log = ReadLog(dossier_code=a_dossier().code)
    log.record(Reader(client_id="desk-1", party="desk", agency_id=random_agency_id()),
               ReadOf(purpose="dossier", via="rest", fields=["full_name", "identity_number"]), a_moment())
    opened, read = log.collect_events()

    record = to_outbound(read)

    assert to_outbound(opened) is None
    assert isinstance(record, Outbound) and isinstance(record.contract, DossierContentRead)
    assert (record.subject, record.contract.purpose, record.contract.fields) == (
        log.dossier_code, "dossier", ("full_name", "identity_number"))


def test_a_reported_status_change_stays_inside_intake() -> None:
    dossier = a_dossier(channel="desk")
    dossier.record_status_change(event_id=str(uuid4()), national_status=4, reason=None,
                                 agency_id=random_agency_id(), changed_at=a_moment())

    assert to_outbound(last_event(dossier)) is None


def test_a_submission_key_stays_inside_intake() -> None:
    key = SubmissionKey(client_id=f"portal-{random_suffix()}", key=str(uuid4()), fingerprint=random_sha256(),
                        dossier_code=a_dossier().code)

    assert to_outbound(last_event(key)) is None


def every_published_event() -> list[object]:
    accepted, refused = a_dossier(), a_dossier()
    accepted.accept(by=f"desk-{random_suffix()}", at=a_moment(), correlation_id=str(uuid4()))
    accepted.request_withdrawal(by=accepted.submitted_by, reason="Không còn nhu cầu", at=a_moment(),
                                correlation_id=str(uuid4()))
    refused.refuse(by=f"desk-{random_suffix()}", reason="Hồ sơ không đúng thủ tục", at=a_moment(),
                   correlation_id=str(uuid4()))
    return [*accepted.collect_events(), *refused.collect_events()]


@pytest.mark.parametrize("index", range(5), ids=["submitted", "accepted", "withdrawal requested", "submitted again",
                                                 "refused"])
def test_a_mapped_contract_survives_the_envelope_and_the_wire(index: int) -> None:
    event = every_published_event()[index]
    outbound = outbound_of(event)

    envelope = to_cloud_event(
        outbound.contract, id=deterministic_event_id(event.originator_id, event.originator_version),
        source="/lienthong/intake", subject=outbound.subject, time=datetime.now(UTC),
        correlation_id=outbound.correlation_id or str(uuid4()), causation_id=outbound.causation_id)
    received = decode(encode(envelope))

    assert received == envelope
    assert from_cloud_event(received) == outbound.contract
