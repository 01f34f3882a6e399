"""Events the intake service publishes (tiếp nhận hồ sơ) on ``lienthong.intake.dossier-events``.

Every event names its dossier by ``dossier_code``, which is also the envelope ``subject``
and the Kafka key, so a dossier's intake events are read in the order they happened.
"""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from shared_events.contracts.base import Contract, Upcaster
from shared_events.contracts.values import (
    Applicant,
    Channel,
    NationalStatus,
    PickupRequest,
    ResultDelivery,
    SubmittedDocument,
)
from shared_events.scalars import (
    AgencyId,
    DossierCode,
    LocalityCode,
    LongText,
    PartyId,
    ProcedureCode,
    ShortText,
    UtcDatetime,
)
from shared_events.topics import INTAKE_DOSSIER_EVENTS


class DossierSubmitted(Contract):
    """A dossier was submitted (nộp hồ sơ) and received by an agency's one-stop desk or portal.

    ``national_status`` is 1 (Mới) while an online or postal dossier awaits the desk's check,
    or 2 (Đã tiếp nhận) when the desk accepted it on the spot; in the first case a
    :class:`DossierAccepted` or :class:`DossierRefusedAtIntake` follows.
    """

    TYPE: ClassVar[str] = "vn.lienthong.intake.dossier.submitted"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = INTAKE_DOSSIER_EVENTS

    dossier_code: DossierCode
    dossier_id: UUID = Field(description="Id of the dossier aggregate in the intake service.")
    procedure_code: ProcedureCode
    procedure_version: ShortText = Field(description="Version of the procedure's rule-set in force at receipt.")
    applicant: Applicant
    documents: tuple[SubmittedDocument, ...] = Field(min_length=1)
    channel: Channel
    result_delivery: ResultDelivery
    locality_code: LocalityCode
    receiving_agency_id: AgencyId
    submitted_by: PartyId
    received_at: UtcDatetime
    national_status: Literal[NationalStatus.NEW, NationalStatus.ACCEPTED]
    options: tuple[ShortText, ...] = Field(
        default=(), description="Follow-on procedures the applicant chose to join (e.g. funeral_allowance).")
    pickup: PickupRequest | None = Field(
        default=None, description="The applicant asked for the dossier's papers to be collected at home by post.")


class DossierAccepted(Contract):
    """The desk accepted the dossier (tiếp nhận hồ sơ; national status 2 Đã tiếp nhận)."""

    TYPE: ClassVar[str] = "vn.lienthong.intake.dossier.accepted"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = INTAKE_DOSSIER_EVENTS

    dossier_code: DossierCode
    accepted_by: PartyId
    accepted_at: UtcDatetime


class DossierRefusedAtIntake(Contract):
    """The desk refused to accept the dossier (từ chối tiếp nhận, form 03; national status 3)."""

    TYPE: ClassVar[str] = "vn.lienthong.intake.dossier.refused"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = INTAKE_DOSSIER_EVENTS

    dossier_code: DossierCode
    refused_by: PartyId
    reason: LongText
    refused_at: UtcDatetime


class DossierWithdrawn(Contract):
    """Deprecated for new dossiers: intake no longer decides a withdrawal (routing owns status 7,
    see docs/STATUS.md); kept so that events already on the topic can still be read."""

    TYPE: ClassVar[str] = "vn.lienthong.intake.dossier.withdrawn"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = INTAKE_DOSSIER_EVENTS

    dossier_code: DossierCode
    reason: LongText
    withdrawn_at: UtcDatetime


class DossierWithdrawalRequested(Contract):
    """The applicant asked to withdraw the dossier (yêu cầu rút hồ sơ).

    Intake records the request; routing, which knows where the dossier stands, decides it:
    it publishes ``DossierStatusChanged`` with status 7 when the withdrawal takes effect, or
    :class:`~shared_events.contracts.status.DossierWithdrawalDeclined` when it comes too late.
    """

    TYPE: ClassVar[str] = "vn.lienthong.intake.dossier.withdrawal-requested"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = INTAKE_DOSSIER_EVENTS

    dossier_code: DossierCode
    requested_by: PartyId
    reason: LongText
    requested_at: UtcDatetime


CONTRACTS: tuple[type[Contract], ...] = (
    DossierSubmitted, DossierAccepted, DossierRefusedAtIntake, DossierWithdrawn, DossierWithdrawalRequested)
UPCASTERS: tuple[Upcaster, ...] = ()
