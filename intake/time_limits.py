"""The statutory time limit of a procedure, held by the catalogue and kept by the routes.

The intake catalogue (``intake/catalogue/*.yaml``, ``time_limit``) is the source of a procedure's
processing time (thời hạn giải quyết). A route (``routing/data/routes/*.yaml``) splits that time
among its steps and repeats it as ``total_time_limit``, from which routing computes the
appointment date. :func:`check_time_limits` refuses a route whose total — or, without one, its
critical path (the longest chain of step limits) — differs from the catalogue's time limit on any
day both versions are in force.

:func:`check_declared_documents` refuses a route step that declares it needs a document
(``needs.documents``, need to know) that the procedure's catalogue version in force on the same
days does not list: such a declaration could never show the agency anything.

Both schemas are read as :class:`Limit`: the routes' ``same_day`` is the catalogue's
``{value: 0, unit: working_days, cutoff}``. A critical path mixing units is counted in working
hours (:data:`HOURS_PER_WORKING_DAY` a day), and so is the catalogue's limit it is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from typing import Literal

from intake.catalogue import Catalogue, ProcedureVersion
from intake.catalogue import TimeLimit as CatalogueLimit
from routing.routes import Route, RouteBook
from routing.routes import TimeLimit as RouteLimit

HOURS_PER_WORKING_DAY = 8
"""Two office sessions, morning and afternoon (docs/CALENDAR.md)."""

Unit = Literal["working_days", "working_hours"]


class TimeLimitsDisagreeError(ValueError):
    """A route's time limit is not the catalogue's for some day both are in force."""

    def __init__(self, procedure_code: str, route: Route, catalogue_version: ProcedureVersion,
                 route_limit: Limit, catalogue_limit: Limit, first_day: date, last_day: date | None) -> None:
        self.procedure_code = procedure_code
        self.route_version = route.version
        self.catalogue_version = catalogue_version.version
        what = "total limit" if route.total_time_limit is not None else "critical path"
        until = f"to {last_day}" if last_day is not None else "on"
        super().__init__(
            f"procedure {procedure_code}: route version {route.version!r} ({what} {route_limit}) disagrees with "
            f"catalogue version {catalogue_version.version!r} (time limit {catalogue_limit}) from {first_day} {until}")


@dataclass(frozen=True)
class Limit:
    """A time limit in one unit; ``value`` 0 with a ``cutoff`` is the same working day."""

    value: int
    unit: Unit
    cutoff: time | None = None

    def __str__(self) -> str:
        if self.value == 0 and self.cutoff is not None:
            return f"same working day, cut-off {self.cutoff:%H:%M}"
        return f"{self.value} {self.unit.replace('_', ' ')}"

    def in_hours(self) -> Limit:
        if self.unit == "working_hours":
            return self
        return Limit(self.value * HOURS_PER_WORKING_DAY, "working_hours", self.cutoff)


def of_catalogue(limit: CatalogueLimit) -> Limit:
    return Limit(limit.value, limit.unit, limit.cutoff)


def of_route(limit: RouteLimit) -> Limit:
    if limit.unit == "same_day":
        return Limit(0, "working_days", limit.cutoff)
    return Limit(limit.value, limit.unit, limit.cutoff)


def critical_path(route: Route) -> Limit:
    """The longest chain of step limits, every step (and option) taken: the least total the
    route's steps need. Same-day steps add nothing; a chain of only same-day steps keeps the
    earliest cut-off."""
    limits = {step.key: of_route(step.time_limit) for step in route.steps}
    units = {limit.unit for limit in limits.values() if limit.value > 0}
    unit: Unit = units.pop() if len(units) == 1 else "working_hours"
    if unit == "working_hours":
        limits = {key: limit.in_hours() for key, limit in limits.items()}
    after = {step.key: step.after for step in route.steps}
    longest: dict[str, int] = {}

    def length(key: str) -> int:
        if key not in longest:
            longest[key] = limits[key].value + max((length(d) for d in after[key]), default=0)
        return longest[key]

    total = max(length(key) for key in after)
    cutoffs = [limit.cutoff for limit in limits.values() if limit.cutoff is not None]
    return Limit(total, unit, min(cutoffs) if total == 0 and cutoffs else None)


def route_limit(route: Route) -> Limit:
    """The route's total limit, or its critical path when it declares none."""
    return of_route(route.total_time_limit) if route.total_time_limit is not None else critical_path(route)


def _agree(route: Limit, catalogue: Limit) -> bool:
    if route.unit != catalogue.unit:
        route, catalogue = route.in_hours(), catalogue.in_hours()
    return route == catalogue


def _overlap(route: Route, version: ProcedureVersion) -> tuple[date, date | None] | None:
    first = max(route.effective_from, version.effective_from)
    ends = [end for end in (route.effective_to, version.effective_to) if end is not None]
    last = min(ends) if ends else None
    return None if last is not None and last < first else (first, last)


def check_time_limits(catalogue: Catalogue, routes: RouteBook) -> None:
    """Raise :class:`TimeLimitsDisagreeError` for the first route version whose limit is not the
    catalogue's on a day both are in force. Procedures only one side knows are not compared."""
    for route in routes.routes:
        limit = route_limit(route)
        for version in catalogue.versions(route.procedure_code):
            period = _overlap(route, version)
            if period is None:
                continue
            expected = of_catalogue(version.time_limit)
            if not _agree(limit, expected):
                raise TimeLimitsDisagreeError(route.procedure_code, route, version, limit, expected, *period)


class UndeclaredDocumentError(ValueError):
    """A route step needs a document its procedure's catalogue does not list."""


def check_declared_documents(catalogue: Catalogue, routes: RouteBook) -> None:
    """Raise :class:`UndeclaredDocumentError` for the first step whose ``needs.documents`` names a
    document key the catalogue version in force on a day the route version is too does not list."""
    for route in routes.routes:
        for version in catalogue.versions(route.procedure_code):
            if _overlap(route, version) is None:
                continue
            keys = {document.key for document in version.documents}
            for step in route.steps:
                if unknown := sorted(set(step.needs.documents) - keys):
                    raise UndeclaredDocumentError(
                        f"route {route.procedure_code} {route.version}, step {step.key!r} needs documents {unknown} "
                        f"that catalogue version {version.version} does not list")
