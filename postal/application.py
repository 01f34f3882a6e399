"""The postal application: use cases over the event-sourced postal-dossier log.

Synchronous (the ``eventsourcing`` library is); entry points call it through
:class:`services.eventstore.EventStore`. Every save also upserts the dossier's read-model rows
(:mod:`postal.readmodel`: one per leg, one per fee collected) in the same transaction.

* **reactions** (``register``, ``open_return``, ``call_off``) load and act; the consumer saves what
  they return with the consumed position;
* **the dispatcher's records** (``record_order_placed``, ``record_order_refused``,
  ``record_action_answered``, ``report_statuses``) and **the webhook** (``accept_webhook``) load, act
  and save, re-applied on a lost version race.

Times come from the events reacted to, the carrier's reports or the caller's clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Recording, Tracking

from intake.catalogue import Catalogue, ProcedureVersion
from postal.carrier_api import OrderRequest, TrackingEvent
from postal.domain import PostalDossier, RoutingEnd, UnknownShipmentError
from postal.readmodel import fee_rows, shipment_rows
from routing.geography import Geography
from services.clock import VIETNAM
from services.eventstore import TrackingApplication, retry_on_conflict
from shared_events.contracts.values import NationalStatus


class PostalDossierNotFoundError(Exception):
    """Postal has no dossier with this code — or none the caller may know of (404 either way)."""


@dataclass(frozen=True)
class LegPolicy:
    """Which partner new legs go to, what they cost, how often a delivery is tried."""

    default_partner: str = "vnpost"
    pickup_postage_vnd: int = 22_000
    return_postage_vnd: int = 22_000
    max_delivery_attempts: int = 3


@dataclass(frozen=True)
class Report:
    """One status of a shipment as the carrier reported it (a webhook's data, or a tracking event)."""

    report_id: str
    order_id: str
    tracking_number: str
    status: str
    attempt: int
    at: datetime
    detail: str | None = None
    cod_collected_vnd: int | None = None

    @classmethod
    def of_tracking(cls, event: TrackingEvent, *, order_id: str, tracking_number: str) -> Report:
        return cls(report_id=event.id, order_id=order_id, tracking_number=tracking_number, status=event.status,
                   attempt=event.attempt, at=event.at, detail=event.detail, cod_collected_vnd=event.cod_collected_vnd)


def fixed_fee_vnd(procedure: ProcedureVersion | None) -> int:
    """The fees and charges of one copy that the catalogue fixes nationally (those it leaves to the
    province or the agency are not collected by post)."""
    if procedure is None:
        return 0
    return sum(fee.amount_vnd for fee in procedure.fees if fee.amount_vnd is not None)


class PostalApplication(TrackingApplication):
    """Pickups and returns by post, each an order at the carrier, with every status reported."""

    name = "PostalDossiers"

    def __init__(self, env: dict[str, str] | None = None, *, policy: LegPolicy | None = None,
                 catalogue: Catalogue | None = None, geography: Geography | None = None,
                 conflict_attempts: int = 5) -> None:
        env = dict(env or {})
        if "POSTGRES_DBNAME" in env:  # any PostgreSQL persistence module: the recorder keeps the read model
            env.setdefault("PROCESS_RECORDER_TOPIC", "postal.readmodel:PostalRecorder")
        super().__init__(env=env)
        self.policy = policy or LegPolicy()
        self.catalogue = catalogue or Catalogue.load()
        self.geography = geography or Geography.load()
        self.conflict_attempts = conflict_attempts

    # -- persistence ---------------------------------------------------------------
    def save_dossier(self, dossier: PostalDossier, tracking: Tracking | None = None) -> list[Recording]:
        return self.save_changes([dossier], tracking)

    def save_reaction(self, tracking: Tracking, objs: Sequence[Any]) -> None:
        self.save_changes(objs, tracking)

    def save_changes(self, objs: Sequence[Any], tracking: Tracking | None = None) -> list[Recording]:
        """Save postal dossiers and noted ends together (with ``tracking``), and the dossiers' rows."""
        dossiers = [d for d in objs if isinstance(d, PostalDossier)]
        return self.save_tracked(tracking, *objs, shipment_rows=[r for d in dossiers for r in shipment_rows(d)],
                                 fee_rows=[r for d in dossiers for r in fee_rows(d)])

    def dossier(self, code: str) -> PostalDossier:
        try:
            dossier: PostalDossier = self.repository.get(PostalDossier.create_id(code))
        except AggregateNotFoundError:
            raise PostalDossierNotFoundError(code) from None
        return dossier

    def find(self, code: str) -> PostalDossier | None:
        try:
            return self.dossier(code)
        except PostalDossierNotFoundError:
            return None

    def history(self, code: str) -> list[Any]:
        return list(self.events.get(PostalDossier.create_id(code)))

    # -- reactions -----------------------------------------------------------------
    def register(self, *, code: str, procedure_code: str, received_at: datetime, receiving_agency_id: str,
                 applicant: dict[str, Any], pickup: dict[str, Any] | None, delivery: dict[str, Any],
                 locality_code: str) -> list[Any]:
        """A submitted dossier that travels by post (a pickup asked for, or the result sent home): keep
        the addresses and the fee, and order the pickup at once — unless routing already ended the dossier
        (:class:`RoutingEnd`), and order the return at once if the result is ready already. Nothing to save
        when nothing goes by post, or the dossier is known already (a repeated event)."""
        by_post = delivery.get("method") == "post"
        if (pickup is None and not by_post) or self.find(code) is not None:
            return []
        day = received_at.astimezone(VIETNAM).date()
        procedure = self.catalogue.find(procedure_code, day)
        contact = {"name": applicant["full_name"], "phone": applicant.get("phone")}
        dossier = PostalDossier(
            dossier_code=code, procedure_code=procedure_code, receiving_agency_id=receiving_agency_id,
            applicant=contact, desk=self._desk(receiving_agency_id, day), pickup=pickup,
            delivery=({"address": delivery["address"], "unit_code": delivery.get("unit_code") or locality_code}
                      if by_post else None),
            fee_vnd=fixed_fee_vnd(procedure), registered_at=received_at)
        end = self._routing_end(code)
        if pickup is not None and (end is None or end.national_status == NationalStatus.DONE_AWAITING_HANDOVER):
            name = procedure.name if procedure is not None else procedure_code
            applicant_party = {"name": contact["name"], "phone": pickup.get("phone") or contact["phone"],
                               "address": pickup["address"], "unit_code": pickup["unit_code"]}
            self._open(dossier, "pickup", sender=applicant_party, receiver=dossier.desk,
                       description=f"Hồ sơ {name} (mã hồ sơ {code})", fee_vnd=0,
                       postage_vnd=self.policy.pickup_postage_vnd, at=received_at)
        if end is not None and end.national_status == NationalStatus.DONE_AWAITING_HANDOVER:
            self._open_return(dossier, end.results, end.finished_at)
        return [dossier]

    def open_return(self, code: str, results: Sequence[dict[str, Any]], at: datetime) -> list[Any]:
        """The result is ready (status 9): order its delivery when it goes by post (nothing to save when it
        does not, or when the return leg is open already). A dossier postal has not seen submitted yet gets
        the end noted (:class:`RoutingEnd`)."""
        dossier = self.find(code)
        if dossier is None:
            return self._note_end(code, NationalStatus.DONE_AWAITING_HANDOVER, results, None, at)
        if dossier.delivery is None or "return" in dossier.legs:
            return []
        self._open_return(dossier, results, at)
        return [dossier]

    def call_off(self, code: str, status: int, reason: str, at: datetime) -> list[Any]:
        """The dossier ended before its papers were collected (refused, withdrawn, stopped): cancel the
        pickup (nothing to save when there is nothing to call off). A dossier postal has not seen submitted
        yet gets the end noted, so that its pickup is never ordered."""
        dossier = self.find(code)
        if dossier is None:
            return self._note_end(code, status, (), reason, at)
        return [dossier] if dossier.cancel_pickup(reason, at) else []

    def _routing_end(self, code: str) -> RoutingEnd | None:
        try:
            end: RoutingEnd = self.repository.get(RoutingEnd.create_id(code))
        except AggregateNotFoundError:
            return None
        return end

    def _note_end(self, code: str, status: int, results: Sequence[dict[str, Any]], reason: str | None,
                  at: datetime) -> list[Any]:
        if self._routing_end(code) is not None:
            return []
        return [RoutingEnd(dossier_code=code, national_status=status, results=list(results), reason=reason,
                           finished_at=at)]

    def _open_return(self, dossier: PostalDossier, results: Sequence[dict[str, Any]], at: datetime) -> None:
        assert dossier.delivery is not None, "only a result sent home has a return leg"
        receiver = {**dossier.delivery, "name": dossier.applicant["name"], "phone": dossier.applicant["phone"]}
        names = ", ".join(r["name"] for r in results) or "kết quả giải quyết"
        self._open(dossier, "return", sender=dossier.desk, receiver=receiver,
                   description=f"Kết quả hồ sơ {dossier.dossier_code}: {names}"[:500], fee_vnd=dossier.fee_vnd,
                   postage_vnd=self.policy.return_postage_vnd, at=at)

    # -- the dispatcher's records --------------------------------------------------------
    def record_order_placed(self, code: str, leg: str, *, order_id: str, tracking_number: str, cod_amount_vnd: int,
                            events: Sequence[TrackingEvent], at: datetime) -> PostalDossier:
        def act(d: PostalDossier) -> None:
            d.record_order_placed(leg, order_id=order_id, tracking_number=tracking_number,
                                  cod_amount_vnd=cod_amount_vnd, at=at)
            self._apply_reports(d, leg, [Report.of_tracking(e, order_id=order_id, tracking_number=tracking_number)
                                         for e in events], "answer", at)
        return self._change(code, act)

    def record_order_refused(self, code: str, leg: str, reason: str, at: datetime) -> PostalDossier:
        return self._change(code, lambda d: d.record_order_refused(leg, reason=reason, at=at))

    def record_action_answered(self, code: str, leg: str, *, action: str, key: str, outcome: str,
                               detail: str | None, events: Sequence[TrackingEvent], at: datetime) -> PostalDossier:
        def act(d: PostalDossier) -> None:
            d.record_action_answered(leg, action=action, key=key, outcome=outcome, detail=detail, at=at)
            state = d.leg(leg)
            self._apply_reports(d, leg, [Report.of_tracking(e, order_id=state["order_id"],
                                                            tracking_number=state["tracking_number"])
                                         for e in events], "answer", at)
        return self._change(code, act)

    def report_statuses(self, code: str, leg: str, reports: Sequence[Report], source: str,
                        at: datetime) -> int:
        """Apply what the carrier reported (reconciliation, an answer's tracking); how many were new."""
        new = 0

        def act(d: PostalDossier) -> None:
            nonlocal new
            new = self._apply_reports(d, leg, reports, source, at)
        self._change(code, act)
        return new

    # -- the webhook -------------------------------------------------------------------
    def accept_webhook(self, partner_id: str, code: str, leg: str, report: Report, at: datetime) -> bool:
        """One status webhook of ``partner_id``, its signature already verified; False: its id was seen
        before (nothing changes). Unknown dossier, leg, order or partner → ``UnknownShipmentError``."""
        new = False

        def act(d: PostalDossier) -> None:
            nonlocal new
            if d.leg(leg)["partner_id"] != partner_id:
                raise UnknownShipmentError(f"the {leg} leg of {code} is not {partner_id}'s")
            new = self._apply_reports(d, leg, [report], "webhook", at) > 0
        try:
            self._change(code, act)
        except PostalDossierNotFoundError:
            raise UnknownShipmentError(f"no dossier {code} goes by post") from None
        return new

    # -- helpers -------------------------------------------------------------------------
    def _apply_reports(self, d: PostalDossier, leg: str, reports: Sequence[Report], source: str, at: datetime) -> int:
        new = 0
        for r in sorted(reports, key=lambda r: (r.attempt, r.at)):
            new += d.report_status(leg, report_id=r.report_id, source=source, order_id=r.order_id,
                                   tracking_number=r.tracking_number, status=r.status, attempt=r.attempt,
                                   status_at=r.at, detail=r.detail, cod_collected_vnd=r.cod_collected_vnd, at=at,
                                   max_delivery_attempts=self.policy.max_delivery_attempts)
        return new

    def _open(self, dossier: PostalDossier, leg: str, *, sender: dict[str, Any], receiver: dict[str, Any],
              description: str, fee_vnd: int, postage_vnd: int, at: datetime) -> None:
        order = OrderRequest(reference=dossier.dossier_code, leg=leg, sender=sender, receiver=receiver,
                             description=description, cod_amount_vnd=fee_vnd + postage_vnd)
        dossier.open_leg(leg, partner_id=self.policy.default_partner, order=order.model_dump(mode="json"),
                         fee_vnd=fee_vnd, postage_vnd=postage_vnd, at=at)

    def _desk(self, agency_id: str, day: date) -> dict[str, Any]:
        """The receiving desk as the carrier's sender or receiver (intake admits only desks the
        geography has on the day of receipt; :class:`GeographyError` otherwise)."""
        agency = self.geography.agency(agency_id, day)
        unit_code = agency.serves[0]
        unit = self.geography.unit(unit_code, day)
        return {"name": agency.name, "phone": None, "address": f"{agency.name}, {unit.name}", "unit_code": unit_code}

    def _change(self, code: str, act: Callable[[PostalDossier], None]) -> PostalDossier:
        def attempt() -> PostalDossier:
            dossier = self.dossier(code)
            act(dossier)
            if dossier.pending_events:
                self.save_dossier(dossier)
            return dossier
        return retry_on_conflict(attempt, attempts=self.conflict_attempts)
