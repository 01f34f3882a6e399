"""Dossier content handed along the route (need to know, Decree 13/2023/NĐ-CP), and the record of
every read of it.

:class:`StepContent` is what one step's agency may see of a dossier: the applicant's fields its
step declares, the submitted documents it declares and the results of the earlier steps it
declares. A stream-integrated agency receives it with the step on its inbox topic
(:class:`~shared_events.contracts.routing.StepOpened` ``content``), each document with a signed,
short-lived link bound to that agency, never the file itself. :class:`DossierContentRead` records
who read what of a dossier, when and how; the audit ledger carries it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from shared_events.contracts.base import Contract, Upcaster, ValueObject
from shared_events.contracts.values import SubmittedDocument
from shared_events.scalars import AgencyId, DossierCode, PartyId, ShortText, UtcDatetime
from shared_events.topics import ROUTING_DOSSIER_EVENTS

ApplicantField = Literal["kind", "full_name", "identity_number", "phone", "email", "address"]
"""The applicant's fields a step may declare (:class:`~shared_events.contracts.values.Applicant`)."""

APPLICANT_FIELDS: tuple[str, ...] = ApplicantField.__args__  # type: ignore[attr-defined]


class DocumentLink(ValueObject):
    """Where the agency downloads one document: a single-use link, valid until ``expires_at``, that
    only the agency it was issued to may use, with its own credentials."""

    url: str = Field(min_length=1, max_length=2000)
    expires_at: UtcDatetime


class ContentDocument(ValueObject):
    """One document of the step's view: submitted by the applicant (``from_step`` absent) or the
    result of an earlier step."""

    document: SubmittedDocument
    from_step: ShortText | None = None
    link: DocumentLink | None = None


class StepContent(ValueObject):
    """What one step's agency may read of the dossier, exactly as its step declares."""

    applicant: dict[ApplicantField, str] = Field(default_factory=dict)
    documents: tuple[ContentDocument, ...] = ()


ReadPurpose = Literal["dossier", "step_view", "document", "results"]
"""``dossier``: the dossier as intake serves it (its applicant); ``step_view``: a step's view;
``document``: one document of a step's view; ``results``: one result handed over."""
ReadChannel = Literal["rest", "link", "stream"]


class DossierContentRead(Contract):
    """Someone read personal data or a document of a dossier (who, when, what, through which path).

    ``fields`` are applicant field names; ``documents`` SHA-256 addresses. ``via`` is ``rest`` for
    an authenticated API read, ``link`` for a signed download link, ``stream`` for content sent
    with a step on the agency's Kafka inbox.
    """

    TYPE: ClassVar[str] = "vn.lienthong.dossier.content-read"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = ROUTING_DOSSIER_EVENTS

    dossier_code: DossierCode
    reader_client_id: PartyId | None = None
    reader_party: ShortText
    reader_agency_id: AgencyId | None = None
    step_key: ShortText | None = None
    purpose: ReadPurpose
    via: ReadChannel
    fields: tuple[ApplicantField, ...] = ()
    documents: tuple[str, ...] = ()
    read_at: UtcDatetime


CONTRACTS: tuple[type[Contract], ...] = (DossierContentRead,)
UPCASTERS: tuple[Upcaster, ...] = ()

__all__ = ["APPLICANT_FIELDS", "ContentDocument", "DocumentLink", "DossierContentRead",
           "StepContent"]
