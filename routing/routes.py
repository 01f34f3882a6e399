"""Procedure routes as versioned rule-sets, and the pure functions that walk them.

Data layout (the packaged data is ``routing/data/routes/``): one YAML file per procedure code
holding ``procedure_code``, ``procedure_name``, ``code_placeholder`` and a list of ``versions``;
each version is a ``Route``: an effective period and a DAG of ``Step``s (``after:`` lists the keys
a step waits for). ``docs/ROUTES.md`` describes every field.

Contracts:

- ``RouteBook.load(path=None, geography=None)`` validates at load, raising ``RouteDataError`` with
  the file and the reason: unknown keys, duplicate step keys, unknown dependencies, cycles,
  undeclared options, overlapping version periods, duplicate version labels, and any step whose
  agency role cannot be resolved for some commune of the geography on some day the version covers
  (``geography`` defaults to the packaged one).
- ``book.route(code, on)`` is the version in force on the day of receipt; the dossier keeps its
  ``Route.version`` and finds it again with ``book.version(code, version)``.
- A step whose ``option`` the citizen did not choose is *skipped*: never ready, not needed for
  completion, and a step waiting on it waits on the skipped step's own dependencies instead.
- ``plan(route, geography, locality_code, on)`` resolves every step's agency from the dossier's
  commune and the day of receipt.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from routing.geography import Agency, Geography, GeographyError, LookupLevel
from services.datafiles import DataFileError, read_mapping, validated, yaml_files
from shared_events.contracts.documents import ApplicantField

DEFAULT_PATH = Path(__file__).parent / "data" / "routes"

_KEY = r"^[a-z][a-z0-9_]*$"


class RouteError(Exception):
    """Base of every error this module raises."""


class RouteDataError(RouteError, DataFileError):
    """Route data that cannot be used; ``file`` and ``reason`` say where and why."""


class NoRouteError(RouteError, LookupError):
    """No rule-set version of the procedure is in force on the day asked (or no such version)."""


class UnknownStepError(RouteError, ValueError):
    """A step key or option name that the route does not declare."""


def _parse_clock(value: Any) -> time:
    if isinstance(value, time):
        return value
    # An unquoted 15:00 reaches us as the YAML 1.1 base-60 integer 900: refuse it.
    if not isinstance(value, str):
        raise ValueError(f'expected a quoted time "HH:MM", got {value!r}')
    return datetime.strptime(value, "%H:%M").time()


class TimeLimit(BaseModel):
    """A statutory time limit: ``value`` working days or hours, or ``same_day`` with a cut-off
    after which a dossier counts from the next working day."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: int = Field(default=0, ge=0)
    unit: Literal["working_days", "working_hours", "same_day"]
    cutoff: Annotated[time, BeforeValidator(_parse_clock)] | None = None

    @model_validator(mode="after")
    def _check_unit(self) -> TimeLimit:
        if self.unit == "same_day" and (self.value != 0 or self.cutoff is None):
            raise ValueError("a same_day limit has no value and needs a cutoff")
        if self.unit != "same_day" and (self.value < 1 or self.cutoff is not None):
            raise ValueError(f"a {self.unit} limit needs a value of at least 1 and no cutoff")
        return self


class Needs(BaseModel):
    """What a step's agency needs of the dossier (need to know, Decree 13/2023/NĐ-CP): the applicant's
    fields, the submitted documents (catalogue keys) and the results of earlier steps (step keys,
    each one the step waits for, directly or not). Nothing else of the dossier is shown to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    applicant: tuple[ApplicantField, ...] = ()
    documents: tuple[Annotated[str, Field(pattern=_KEY)], ...] = ()
    results: tuple[Annotated[str, Field(pattern=_KEY)], ...] = ()

    def as_dict(self) -> dict[str, list[str]]:
        return {"applicant": list(self.applicant), "documents": list(self.documents), "results": list(self.results)}


class Step(BaseModel):
    """One hand-off: the agency playing ``role`` (looked up at ``lookup`` level from the dossier's
    commune) acts within ``time_limit`` once every step in ``after`` is done. A step with an
    ``option`` runs only when the citizen chose that option; ``may_request_payment`` marks a step
    that can pause the dossier while the citizen pays. ``needs`` declares what of the dossier the
    agency may read (an empty declaration is written ``needs: {}``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=_KEY)
    name: str = Field(min_length=1)
    role: str = Field(pattern=_KEY)
    lookup: LookupLevel
    time_limit: TimeLimit
    may_request_payment: bool = False
    after: tuple[str, ...] = ()
    option: str | None = Field(default=None, pattern=_KEY)
    needs: Needs


class Route(BaseModel):
    """One rule-set version of a procedure's route, in force over an effective period."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    procedure_code: str = Field(pattern=r"^\d\.\d{6}$")
    procedure_name: str = Field(min_length=1)
    code_placeholder: bool
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    effective_from: date
    effective_to: date | None = None
    options: tuple[str, ...] = ()
    steps: tuple[Step, ...] = Field(min_length=1)
    total_time_limit: TimeLimit | None = None
    total_time_limit_with_verification: TimeLimit | None = None
    source: str = Field(min_length=1)
    verified: bool = False

    @model_validator(mode="after")
    def _check_graph(self) -> Route:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError(f"effective_to {self.effective_to} is before effective_from {self.effective_from}")
        keys = [step.key for step in self.steps]
        if duplicates := sorted({key for key in keys if keys.count(key) > 1}):
            raise ValueError(f"duplicate step keys {duplicates}")
        for step in self.steps:
            if unknown := [d for d in step.after if d not in keys]:
                raise ValueError(f"step {step.key!r} waits for unknown steps {unknown}")
            if step.option is not None and step.option not in self.options:
                raise ValueError(f"step {step.key!r} uses option {step.option!r}, not declared in options")
        if cycle := _find_cycle({step.key: step.after for step in self.steps}):
            raise ValueError(f"steps form a cycle: {' -> '.join(cycle)}")
        for step in self.steps:
            if early := [r for r in step.needs.results if r not in self.predecessors(step.key)]:
                raise ValueError(f"step {step.key!r} needs the results of {early}, which it does not wait for")
        return self

    def predecessors(self, key: str) -> frozenset[str]:
        """Every step ``key`` waits for, directly or through others."""
        after = {step.key: step.after for step in self.steps}
        seen: set[str] = set()
        todo = list(after.get(key, ()))
        while todo:
            if (current := todo.pop()) not in seen:
                seen.add(current)
                todo.extend(after.get(current, ()))
        return frozenset(seen)

    def in_force(self, on: date) -> bool:
        """True when ``on`` falls inside the effective period (both ends inclusive)."""
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)

    def step(self, key: str) -> Step:
        """The step with ``key``; ``UnknownStepError`` if the route has none."""
        for step in self.steps:
            if step.key == key:
                return step
        raise UnknownStepError(f"route {self.procedure_code} {self.version} has no step {key!r}")

    def active_steps(self, options: Iterable[str] = ()) -> list[Step]:
        """The steps that run for these chosen options, in declaration order."""
        chosen = self._chosen(options)
        return [step for step in self.steps if step.option is None or step.option in chosen]

    def initial_steps(self, options: Iterable[str] = ()) -> list[Step]:
        """The steps that can start as soon as the dossier is accepted."""
        return self.next_steps(set(), options)

    def next_steps(
        self, completed: Iterable[str], options: Iterable[str] = (), started: Iterable[str] = ()
    ) -> list[Step]:
        """Active steps not completed or started whose dependencies are all satisfied.

        A dependency is satisfied when completed, or when skipped and its own dependencies are
        satisfied. Steps that become ready together (parallel branches) are returned together.
        """
        done, begun = self._known(completed), self._known(started)
        active = {step.key for step in self.active_steps(options)}
        after = {step.key: step.after for step in self.steps}

        def satisfied(key: str) -> bool:
            return key in done if key in active else all(satisfied(d) for d in after[key])

        return [
            step
            for step in self.steps
            if step.key in active
            and step.key not in done
            and step.key not in begun
            and all(satisfied(d) for d in step.after)
        ]

    def is_complete(self, completed: Iterable[str], options: Iterable[str] = ()) -> bool:
        """True when every active step for these options is completed."""
        done = self._known(completed)
        return all(step.key in done for step in self.active_steps(options))

    def _chosen(self, options: Iterable[str]) -> frozenset[str]:
        chosen = frozenset(options)
        if unknown := sorted(chosen - set(self.options)):
            raise UnknownStepError(f"route {self.procedure_code} {self.version} has no options {unknown}")
        return chosen

    def _known(self, keys: Iterable[str]) -> frozenset[str]:
        keys = frozenset(keys)
        if unknown := sorted(keys - {step.key for step in self.steps}):
            raise UnknownStepError(f"route {self.procedure_code} {self.version} has no steps {unknown}")
        return keys


class RouteBook(BaseModel):
    """Every procedure's rule-set versions, validated."""

    model_config = ConfigDict(frozen=True)

    routes: tuple[Route, ...]

    @classmethod
    def load(cls, path: str | Path | None = None, geography: Geography | None = None) -> RouteBook:
        """Read and validate the packaged routes, or the YAML directory or file at ``path``,
        checking every role against ``geography`` (the packaged one when omitted)."""
        geography = geography if geography is not None else Geography.load()
        routes: list[Route] = []
        for file in yaml_files(Path(path) if path is not None else DEFAULT_PATH, error=RouteDataError):
            versions = _read_procedure(file)
            if clash := {r.procedure_code for r in routes} & {v.procedure_code for v in versions}:
                raise RouteDataError(file, f"procedure {sorted(clash)} is already defined in another file")
            _check_versions(versions, file)
            for route in versions:
                _check_roles_served(route, geography, file)
            routes += versions
        return cls(routes=tuple(routes))

    def route(self, procedure_code: str, on: date) -> Route:
        """The version of ``procedure_code``'s route in force on ``on`` (the day of receipt)."""
        for route in self.routes:
            if route.procedure_code == procedure_code and route.in_force(on):
                return route
        raise NoRouteError(f"no route for procedure {procedure_code!r} is in force on {on}")

    def version(self, procedure_code: str, version: str) -> Route:
        """The route version a dossier kept, by its label."""
        for route in self.routes:
            if route.procedure_code == procedure_code and route.version == version:
                return route
        raise NoRouteError(f"procedure {procedure_code!r} has no route version {version!r}")

    def procedure_codes(self) -> list[str]:
        """Every procedure code with at least one route version, sorted."""
        return sorted({route.procedure_code for route in self.routes})


class PlannedStep(BaseModel):
    """A step together with the concrete agency that will handle it."""

    model_config = ConfigDict(frozen=True)

    step: Step
    agency: Agency


def plan(
    route: Route, geography: Geography, locality_code: str, on: date, options: Iterable[str] | None = None
) -> list[PlannedStep]:
    """Resolve the agency of every step (only the active ones when ``options`` is given) for a
    dossier from commune ``locality_code`` received on ``on``, in declaration order.

    Raises ``RouteError`` when the route version is not in force on ``on``, and the geography's
    errors (``NoAgencyForRoleError``, ``UnknownUnitError``, ...) when a step cannot be placed.
    """
    if not route.in_force(on):
        raise RouteError(f"route {route.procedure_code} {route.version} is not in force on {on}")
    steps = route.steps if options is None else route.active_steps(options)
    return [
        PlannedStep(step=step, agency=geography.resolve(step.role, locality_code, step.lookup, on))
        for step in steps
    ]


def _find_cycle(graph: dict[str, tuple[str, ...]]) -> list[str] | None:
    """A cycle in ``graph`` (key -> keys it waits for) as a path whose ends meet, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    path: list[str] = []

    def visit(key: str) -> list[str] | None:
        state[key] = 1
        path.append(key)
        for dependency in graph.get(key, ()):
            if state.get(dependency) == 1:
                return [*path[path.index(dependency) :], dependency]
            if dependency not in state and (cycle := visit(dependency)):
                return cycle
        path.pop()
        state[key] = 2
        return None

    for key in graph:
        if key not in state and (cycle := visit(key)):
            return cycle
    return None


_PROCEDURE_KEYS = {"procedure_code", "procedure_name", "code_placeholder"}


def _read_procedure(file: Path) -> list[Route]:
    document = read_mapping(file, error=RouteDataError, allowed=_PROCEDURE_KEYS | {"versions"})
    versions = document.get("versions")
    if not isinstance(versions, list) or not versions:
        raise RouteDataError(file, "'versions' must be a non-empty list")
    common = {key: document[key] for key in _PROCEDURE_KEYS if key in document}
    routes = []
    for raw in versions:
        if not isinstance(raw, dict):
            raise RouteDataError(file, f"each version must be a mapping, got {raw!r}")
        if clash := _PROCEDURE_KEYS & set(raw):
            raise RouteDataError(file, f"version {raw.get('version')!r} repeats procedure keys {sorted(clash)}")
        routes.append(validated(Route, {**common, **raw}, file=file, label=f"version {raw.get('version')!r}",
                                error=RouteDataError))
    return routes


def _check_versions(versions: list[Route], file: Path) -> None:
    for i, first in enumerate(versions):
        for second in versions[i + 1 :]:
            if first.version == second.version:
                raise RouteDataError(file, f"version label {first.version!r} is used twice")
            if first.effective_from <= (second.effective_to or date.max) and second.effective_from <= (
                first.effective_to or date.max
            ):
                raise RouteDataError(
                    file, f"versions {first.version!r} and {second.version!r} have overlapping effective periods"
                )


def _check_roles_served(route: Route, geography: Geography, file: Path) -> None:
    """Every step's role resolves for every commune on every day the version covers.

    Lookups only change on the geography's change dates, so checking the version's first day and
    every change date inside its period covers every day.
    """
    label = f"version {route.version!r}"
    for step in route.steps:
        if step.role not in geography.roles():
            raise RouteDataError(file, f"{label}, step {step.key!r}: no agency plays role {step.role!r}")
    days = sorted({route.effective_from, *(d for d in geography.change_dates() if route.in_force(d))})
    for day in days:
        communes = geography.communes(day)
        if not communes:
            raise RouteDataError(file, f"{label}: no commune is in force on {day} to check its roles against")
        for commune in communes:
            for step in route.steps:
                try:
                    geography.resolve(step.role, commune.code, step.lookup, day)
                except GeographyError as error:
                    raise RouteDataError(file, f"{label}, step {step.key!r}: {error}") from None
