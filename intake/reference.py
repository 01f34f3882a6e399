"""Reference data intake checks a submission against: administrative units, agencies, routes.

Intake reads routing's packaged geography and route book **read-only** (shared reference data;
each service still owns its store) so that it never accepts a dossier routing cannot route:
an unknown locality, a receiving agency that does not exist, or a procedure with no route in
force on the day of receipt would stall routing's consumer for every later dossier.

Pure: :meth:`ReferenceData.load` reads the packaged files once per process (the HTTP
lifespan) and refuses routes whose time limits are not the catalogue's, or whose steps need
documents the catalogue does not list (:mod:`intake.time_limits`); :func:`check_reference` only
looks things up.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from intake.catalogue import Catalogue, SubmissionProblem
from intake.time_limits import check_declared_documents, check_time_limits
from routing.geography import Geography, GeographyError
from routing.routes import NoRouteError, RouteBook, RouteError, plan

RECEIVING_ROLES = frozenset({"one_stop_centre"})
"""Roles of the agencies that receive dossiers: the one-stop desks (Bộ phận Tiếp nhận và Trả kết
quả, Trung tâm Phục vụ hành chính công; Decree 61/2018/NĐ-CP, 118/2025/NĐ-CP)."""


@dataclass(frozen=True)
class ReferenceData:
    """The geography and the routes, validated at load."""

    geography: Geography
    routes: RouteBook

    @classmethod
    def load(cls, catalogue: Catalogue | None = None) -> ReferenceData:
        """Read and validate the packaged geography and routes, and check that every route keeps
        the time limit of ``catalogue`` (default: the packaged one); raises on bad data and
        :class:`intake.time_limits.TimeLimitsDisagreeError` on a disagreement."""
        geography = Geography.load()
        routes = RouteBook.load(geography=geography)
        catalogue = catalogue if catalogue is not None else Catalogue.load()
        check_time_limits(catalogue, routes)
        check_declared_documents(catalogue, routes)
        return cls(geography=geography, routes=routes)


def is_commune_in_force(reference: ReferenceData, unit_code: str, on: date) -> bool:
    """``unit_code`` is a commune-level unit (xã, phường, đặc khu) in force on ``on``: the one test
    of the applicant's locality and of the pickup and delivery addresses' units."""
    try:
        unit = reference.geography.unit(unit_code, on)
    except GeographyError:
        return False
    return unit is not None and unit.level == "commune"


def _unit_problem(reference: ReferenceData, field: str, code: str, unit_code: str, on: date,
                  what: str = "") -> SubmissionProblem | None:
    if is_commune_in_force(reference, unit_code, on):
        return None
    return SubmissionProblem(
        field=field, code=code,
        message_vi=f"Mã đơn vị hành chính {unit_code}{what} không phải là xã, phường, đặc khu "
                   f"đang có hiệu lực ngày {on:%d/%m/%Y}.")


def _locality_problem(reference: ReferenceData, locality_code: str, on: date) -> SubmissionProblem | None:
    return _unit_problem(reference, "locality_code", "locality_unknown", locality_code, on)


def _agency_problem(reference: ReferenceData, agency_id: str, on: date) -> SubmissionProblem | None:
    try:
        agency = reference.geography.agency(agency_id, on)
    except GeographyError:
        return SubmissionProblem(
            field="receiving_agency_id", code="agency_unknown",
            message_vi=f"Không có cơ quan mã {agency_id} hoạt động ngày {on:%d/%m/%Y}.")
    if agency.role not in RECEIVING_ROLES:
        return SubmissionProblem(
            field="receiving_agency_id", code="agency_not_receiving",
            message_vi=f"{agency.name} ({agency_id}) không phải bộ phận tiếp nhận hồ sơ.")
    return None


def _route_problems(reference: ReferenceData, procedure_code: str, locality_code: str, on: date,
                    options: Collection[str], locality_known: bool) -> list[SubmissionProblem]:
    try:
        route = reference.routes.route(procedure_code, on)
    except NoRouteError:
        return [SubmissionProblem(
            field="procedure_code", code="procedure_not_routed",
            message_vi=f"Thủ tục {procedure_code} chưa có quy trình liên thông áp dụng ngày {on:%d/%m/%Y}; "
                       "chưa thể tiếp nhận hồ sơ.")]
    if not locality_known:
        return []
    try:
        plan(route, reference.geography, locality_code, on, [o for o in options if o in route.options])
    except (GeographyError, RouteError):
        return [SubmissionProblem(
            field="locality_code", code="locality_not_served",
            message_vi=f"Chưa có cơ quan giải quyết thủ tục {procedure_code} cho đơn vị hành chính "
                       f"{locality_code} ngày {on:%d/%m/%Y}.")]
    return []


def check_reference(reference: ReferenceData, *, procedure_code: str, locality_code: str,
                    receiving_agency_id: str, options: Collection[str], on: date,
                    pickup_unit_code: str | None = None,
                    delivery_unit_code: str | None = None) -> list[SubmissionProblem]:
    """Every way the submission does not fit the reference data in force on ``on`` (the
    Vietnamese day of receipt); empty when it fits.

    Problem codes: ``locality_unknown`` (not a commune-level unit in force), ``agency_unknown``,
    ``agency_not_receiving`` (exists but is not a one-stop desk), ``procedure_not_routed`` (no
    route version in force), ``locality_not_served`` (some step has no agency for it),
    ``pickup_unit_unknown`` / ``delivery_unit_unknown`` (the unit of the pickup address
    ``pickup.unit_code``, or of the result's delivery address ``result_delivery.unit_code``, when
    given, is not a commune-level unit in force).
    """
    problems: list[SubmissionProblem] = []
    locality = _locality_problem(reference, locality_code, on)
    if locality is not None:
        problems.append(locality)
    agency = _agency_problem(reference, receiving_agency_id, on)
    if agency is not None:
        problems.append(agency)
    problems += _route_problems(reference, procedure_code, locality_code, on, options, locality is None)
    for field, code, unit_code, what in (
        ("pickup.unit_code", "pickup_unit_unknown", pickup_unit_code, " (nơi thu gom hồ sơ)"),
        ("result_delivery.unit_code", "delivery_unit_unknown", delivery_unit_code, " (nơi nhận kết quả)"),
    ):
        if unit_code is not None and (problem := _unit_problem(reference, field, code, unit_code, on, what)):
            problems.append(problem)
    return problems
