"""Events stored before the postal service existed still load and publish: an intake dossier
submitted without ``pickup`` and a routing hand-over without ``via`` and ``tracking_number``, each
rebuilt from stored events whose state lacks those fields, as the earlier code stored them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent

from intake.api import to_public
from intake.application import DossierView, IntakeApplication
from intake.outbound import to_outbound
from routing.api.schemas import to_view
from routing.domain import RoutedDossier
from routing.outbound import status_change
from tests.support.builders import a_dossier, complete, started, vn

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def stored_without(source: Application[UUID], originator_id: UUID, event_name: str, *fields: str) -> list[StoredEvent]:
    """The stored events of ``originator_id`` in ``source``, with ``fields`` taken out of the state of
    its ``event_name`` events."""
    transcoder = source.mapper.transcoder
    older = []
    for stored in source.recorder.select_events(originator_id):
        if stored.topic.endswith(f".{event_name}"):
            state: dict[str, Any] = transcoder.decode(stored.state)
            assert set(fields) <= set(state)
            for name in fields:
                del state[name]
            stored = StoredEvent(originator_id=stored.originator_id, originator_version=stored.originator_version,
                                 topic=stored.topic, state=transcoder.encode(state))
        older.append(stored)
    return older


def test_an_intake_dossier_submitted_before_pickups_existed_loads_shows_and_publishes_without_one() -> None:
    today = IntakeApplication(env=IN_MEMORY)
    dossier = a_dossier()
    today.submit(dossier, None)
    before = IntakeApplication(env=IN_MEMORY)
    before.recorder.insert_events(stored_without(today, dossier.id, "Submitted", "pickup"))

    loaded = before.dossier(dossier.code)
    [submitted] = before.history(dossier.code)

    assert (loaded.pickup, loaded.arrival, loaded.applicant) == (None, None, dossier.applicant)
    assert not hasattr(submitted, "pickup")
    outbound = to_outbound(submitted)
    assert outbound is not None and outbound.contract.pickup is None  # type: ignore[attr-defined]
    assert to_public(DossierView(loaded, [submitted])).pickup is None


def test_a_hand_over_stored_before_results_went_by_post_loads_as_one_at_the_desk() -> None:
    dossier, route = started("2.000635", vn(7, 7, 9))
    complete(dossier, route, "issue_copy", vn(7, 7, 10))
    dossier.hand_over("mot-cua", vn(7, 7, 11))
    today: Application[UUID] = Application(env={})
    today.save(dossier)
    before: Application[UUID] = Application(env={})
    before.recorder.insert_events(stored_without(today, dossier.id, "ResultHandedOver", "via", "tracking_number"))

    loaded: RoutedDossier = before.repository.get(dossier.id)
    handed = list(before.events.get(dossier.id))[-1]

    assert (loaded.national_status, loaded.handed_over_via, loaded.handed_over_by) == (10, "desk", "mot-cua")
    view = to_view(loaded)
    assert view.handover is not None and (view.handover.via, view.handover.tracking_number) == ("desk", None)
    changed = status_change(handed)
    assert changed is not None and (changed.national_status, changed.reason) == (10, None)
