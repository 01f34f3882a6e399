"""The routed dossier's stored shape and its reusable computations: the topics stored events are
named by, an event stored under such a topic loading back, and the one formula for dues after
pauses."""

from __future__ import annotations

from eventsourcing.domain import CanMutateAggregate
from eventsourcing.utils import get_topic

from routing.domain import RoutedDossier
from routing.domain.dues import dues_after_pauses
from tests.support.builders import a_document, calendar, replayed, started, vn

EVENT_NAMES = {
    "Received", "RouteAssigned", "StepOpened", "StepClaimed", "StepCompleted", "ResultReady",
    "SupplementRequested", "SupplementProvided", "PaymentRequested", "PaymentReceived", "StepRefused",
    "StepSentBack", "Withdrawn", "Stopped", "StepDueSoon", "StepOverdue", "ApologyIssued", "ResultHandedOver",
    "RoutingImpossible", "ClosedAtIntake", "WithdrawalDeclined", "DueTimesRecomputed", "ResultBackAtDesk",
}


def test_every_stored_event_keeps_its_topic_on_the_routed_dossier_in_the_dossier_module() -> None:
    topics = {get_topic(value) for value in vars(RoutedDossier).values()
              if isinstance(value, type) and issubclass(value, CanMutateAggregate)
              and value not in (RoutedDossier.Event, RoutedDossier.Created)}

    assert topics == {f"routing.domain.dossier:RoutedDossier.{name}" for name in EVENT_NAMES}


def test_a_dossier_stored_with_a_pause_and_a_resumption_loads_back_unchanged() -> None:
    dossier, _ = started("1.001193", vn(7, 7, 9))
    dossier.request_supplement("birth_registration", dossier.step("birth_registration").agency_id or "",
                               "Bổ sung giấy chứng sinh", vn(7, 8, 9))
    dossier.provide_supplement(vn(7, 10, 9), [a_document()], calendar())

    again = replayed(dossier)

    assert again.steps == dossier.steps and again.pauses == dossier.pauses
    assert again.appointment_at == dossier.appointment_at


def test_the_dues_a_resumed_clock_stores_are_those_dues_after_pauses_counts() -> None:
    dossier, _ = started("1.001193", vn(7, 7, 9))
    agency = dossier.step("birth_registration").agency_id or ""
    dossier.request_supplement("birth_registration", agency, "Bổ sung giấy chứng sinh", vn(7, 7, 14))
    resumed_at = vn(7, 9, 14)

    still_paused = dues_after_pauses(dossier, calendar(), None)
    counted = dues_after_pauses(dossier, calendar(), resumed_at)
    dossier.provide_supplement(resumed_at, [a_document()], calendar())

    assert still_paused.steps == {"birth_registration": None}
    assert counted.steps == {"birth_registration": dossier.step("birth_registration").due_at}
    assert counted.appointment_at == dossier.appointment_at
    assert dossier.original_appointment_at is not None
    assert counted.appointment_at is not None and counted.appointment_at > dossier.original_appointment_at
