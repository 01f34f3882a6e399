"""The working calendar's changes and the due times they moved, published by routing on
``lienthong.routing.dossier-events``.

An operator adds a day off, a make-up working day, or removes one, citing the government's
decision; routing recomputes the due time of every step still open and each dossier's appointment
date (ngày hẹn trả), and publishes what moved. A calendar change is keyed ``working-calendar``;
a dossier's due-time change by its dossier code, and it also goes to each stream-integrated
agency whose open step moved, on that agency's inbox topic.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import Field

from shared_events.contracts.base import Contract, Upcaster, ValueObject
from shared_events.scalars import AgencyId, DossierCode, LongText, PartyId, ShortText, UtcDatetime
from shared_events.topics import ROUTING_DOSSIER_EVENTS

CALENDAR_KEY = "working-calendar"
"""The Kafka key (and CloudEvents subject) of every working-calendar change."""

DECISION_NUMBER_MAX_LENGTH = 60


class WorkingCalendarChanged(Contract):
    """An operator changed the working calendar by a government decision.

    ``kind``: ``add_day_off`` (a weekday off), ``add_working_day`` (a weekend day worked, làm bù) or
    ``remove`` (the day goes back to what its weekday makes it). ``revision`` counts the changes of
    the deployment's calendar from 1, in order.
    """

    TYPE: ClassVar[str] = "vn.lienthong.routing.calendar.changed"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = ROUTING_DOSSIER_EVENTS

    revision: int = Field(ge=1)
    kind: Literal["add_day_off", "add_working_day", "remove"]
    day: date
    decision: ShortText = Field(max_length=DECISION_NUMBER_MAX_LENGTH, description="số hiệu văn bản, vd. 1234/QĐ-TTg")
    reason: LongText
    changed_by: PartyId
    changed_at: UtcDatetime

    @property
    def subject(self) -> str:
        return CALENDAR_KEY


class StepDueChange(ValueObject):
    """One open step whose due time moved."""

    step_key: ShortText
    agency_id: AgencyId
    opening: int = Field(ge=1)
    previous_due_at: UtcDatetime
    due_at: UtcDatetime


class DueTimesChanged(Contract):
    """A calendar change moved the due times of the dossier's open steps or its appointment date.

    Old and new values both travel, so the citizen and the agencies see what moved and why.
    """

    TYPE: ClassVar[str] = "vn.lienthong.routing.dossier.due-times-changed"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = ROUTING_DOSSIER_EVENTS

    dossier_code: DossierCode
    calendar_revision: int = Field(ge=1)
    decision: ShortText = Field(max_length=DECISION_NUMBER_MAX_LENGTH)
    reason: LongText
    steps: tuple[StepDueChange, ...] = ()
    previous_appointment_at: UtcDatetime | None = None
    appointment_at: UtcDatetime | None = None
    changed_at: UtcDatetime


CONTRACTS: tuple[type[Contract], ...] = (WorkingCalendarChanged, DueTimesChanged)
UPCASTERS: tuple[Upcaster, ...] = ()
