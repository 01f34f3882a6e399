"""Administrative units and agencies as versioned data, with pure resolvers.

Data layout (the packaged data is ``routing/data/geography/``): a directory of YAML files, each a
mapping with a ``units:`` list, an ``agencies:`` list, or both. ``docs/ROUTES.md`` describes every
field. Everything is versioned by an effective period ``[effective_from, effective_to]`` (both
inclusive, ``effective_to`` absent = still in force), because Vietnam's local government changed
shape on 2025-07-01: province → district → commune until 2025-06-30, province → commune after.

Contracts:

- ``Geography.load(path=None)`` reads the packaged data (or ``path``: a directory or one file) and
  validates it; any problem raises ``GeographyDataError`` naming the file and the reason. Nothing
  else in this module does I/O.
- A unit code may be reused by a new unit after a merger (ward 16690 was "Trường Thi" until
  2025-06-30 and is "Trường Vinh" from 2025-07-01): lookups are always by code *and* date.
- ``resolve(role, locality_code, level, on)`` returns the one agency that plays ``role`` for the
  dossier's commune on the day ``on``, looked up at ``level``: ``locality`` (the commune itself),
  ``district`` (its parent district — only exists before 2025-07-01) or ``province``. A locality
  code no longer in force on ``on`` is first mapped to its successor.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.datafiles import DataFileError, read_mapping, validated, yaml_files

DEFAULT_PATH = Path(__file__).parent / "data" / "geography"

UnitLevel = Literal["province", "district", "commune"]
LookupLevel = Literal["locality", "district", "province"]
Integration = Literal["rest", "kafka"]

_CODE_LENGTH = {"province": 2, "district": 3, "commune": 5}
_PARENT_LEVELS: dict[str, tuple[str, ...]] = {
    "province": (),
    "district": ("province",),
    "commune": ("district", "province"),
}


class GeographyError(Exception):
    """Base of every error this module raises."""


class GeographyDataError(GeographyError, DataFileError):
    """Geography data that cannot be used; ``file`` and ``reason`` say where and why."""


class UnknownUnitError(GeographyError, LookupError):
    """No administrative unit with this code is in force on the day asked."""


class UnknownAgencyError(GeographyError, LookupError):
    """No agency with this electronic id is in force on the day asked."""


class NoSuccessorError(GeographyError, LookupError):
    """A unit ended without a single successor in force on the day asked."""


class NoAgencyForRoleError(GeographyError, LookupError):
    """No agency plays the role for this locality, level and day."""


class _Versioned(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    effective_from: date
    effective_to: date | None = None
    source: str = Field(min_length=1)
    verified: bool = False
    sample: Literal["invented"] | None = None

    @model_validator(mode="after")
    def _check_period_and_provenance(self) -> _Versioned:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError(f"effective_to {self.effective_to} is before effective_from {self.effective_from}")
        if self.verified and self.sample == "invented":
            raise ValueError("an entry cannot be both verified and sample: invented")
        return self

    def in_force(self, on: date) -> bool:
        """True when ``on`` falls inside the effective period (both ends inclusive)."""
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)

    def overlaps(self, other: _Versioned) -> bool:
        """True when the two effective periods share at least one day."""
        end = self.effective_to or date.max
        other_end = other.effective_to or date.max
        return self.effective_from <= other_end and other.effective_from <= end


class Unit(_Versioned):
    """An administrative unit (đơn vị hành chính) for one effective period.

    ``parent`` is the code of the unit above it; ``successors`` the codes of the units it was
    merged into when its period ended.
    """

    code: str = Field(pattern=r"^\d{2,5}$")
    name: str = Field(min_length=1)
    level: UnitLevel
    parent: str | None = None
    successors: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check_shape(self) -> Unit:
        if len(self.code) != _CODE_LENGTH[self.level]:
            raise ValueError(f"a {self.level} code has {_CODE_LENGTH[self.level]} digits, got {self.code!r}")
        if (self.parent is None) != (self.level == "province"):
            raise ValueError("a province has no parent; districts and communes need one")
        if self.successors and self.effective_to is None:
            raise ValueError("successors are only meaningful for a unit whose period ended")
        return self


class Agency(_Versioned):
    """A handling agency for one effective period.

    ``id`` is its electronic id (mã định danh điện tử, Decision 20/2020/QĐ-TTg), opaque.
    ``serves`` lists the codes of the units it serves, all at ``level``: one unit for most
    agencies, several communes for a regional branch of a central agency.
    """

    id: str = Field(pattern=r"^[A-Z0-9.]{1,35}$")
    name: str = Field(min_length=1)
    role: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    level: UnitLevel
    serves: tuple[str, ...] = Field(min_length=1)
    integration: Integration


class Geography(BaseModel):
    """All units and agencies, validated; every method is a pure lookup."""

    model_config = ConfigDict(frozen=True)

    units: tuple[Unit, ...]
    agencies: tuple[Agency, ...]

    @classmethod
    def load(cls, path: str | Path | None = None) -> Geography:
        """Read and validate the packaged data, or the YAML directory or file at ``path``."""
        units: list[tuple[Unit, Path]] = []
        agencies: list[tuple[Agency, Path]] = []
        for file in yaml_files(Path(path) if path is not None else DEFAULT_PATH, error=GeographyDataError):
            document = read_mapping(file, error=GeographyDataError, allowed={"units", "agencies"})
            units += [(_parse(Unit, raw, file, "unit"), file) for raw in _list(document, "units", file)]
            agencies += [(_parse(Agency, raw, file, "agency"), file) for raw in _list(document, "agencies", file)]
        _check_units(units)
        _check_agencies(agencies, [unit for unit, _ in units])
        return cls(units=tuple(u for u, _ in units), agencies=tuple(a for a, _ in agencies))

    def stream_integrated_agency_ids(self) -> set[str]:
        """Agencies whose systems take work from a Kafka topic (in any period)."""
        return {a.id for a in self.agencies if a.integration == "kafka"}

    def unit(self, code: str, on: date) -> Unit:
        """The unit with ``code`` in force on ``on``; ``UnknownUnitError`` if there is none."""
        for unit in self.units:
            if unit.code == code and unit.in_force(on):
                return unit
        raise UnknownUnitError(f"no administrative unit with code {code!r} is in force on {on}")

    def parent(self, code: str, on: date) -> Unit | None:
        """The unit directly above ``code`` on ``on`` (``None`` for a province)."""
        unit = self.unit(code, on)
        return None if unit.parent is None else self.unit(unit.parent, on)

    def successor(self, code: str, on: date) -> Unit:
        """The unit that ``code`` denotes on ``on``, following mergers.

        The unit itself when a unit with that code is in force; otherwise the successors of its
        last period that ended before ``on``, followed until one is in force. Raises
        ``UnknownUnitError`` for a code never in force before ``on`` and ``NoSuccessorError`` for
        a unit abolished without successor (a district) or split among several.
        """
        seen: set[str] = set()
        while True:
            try:
                return self.unit(code, on)
            except UnknownUnitError:
                pass
            ended = [u for u in self.units if u.code == code and u.effective_to is not None and u.effective_to < on]
            if not ended:
                raise UnknownUnitError(f"no administrative unit with code {code!r} is in force on {on}") from None
            last = max(ended, key=lambda u: u.effective_from)
            if len(last.successors) != 1 or code in seen:
                raise NoSuccessorError(
                    f"{last.name} ({code}) ended on {last.effective_to} with successors "
                    f"{list(last.successors)}: no single unit replaces it on {on}"
                )
            seen.add(code)
            code = last.successors[0]

    def agency(self, agency_id: str, on: date) -> Agency:
        """The agency with electronic id ``agency_id`` in force on ``on``."""
        for agency in self.agencies:
            if agency.id == agency_id and agency.in_force(on):
                return agency
        raise UnknownAgencyError(f"no agency with id {agency_id!r} is in force on {on}")

    def resolve(self, role: str, locality_code: str, level: LookupLevel, on: date) -> Agency:
        """The agency playing ``role`` for the commune ``locality_code`` on ``on``, at ``level``.

        Raises ``UnknownUnitError``/``NoSuccessorError`` when the locality cannot be placed on
        that day, and ``NoAgencyForRoleError`` when no agency plays the role there.
        """
        locality = self.successor(locality_code, on)
        if locality.level != "commune":
            raise NoAgencyForRoleError(
                f"locality {locality_code!r} is a {locality.level} ({locality.name}), not a commune"
            )
        target = self._unit_at(locality, level, on)
        for agency in self.agencies:
            if agency.role == role and agency.in_force(on) and target.code in agency.serves:
                return agency
        raise NoAgencyForRoleError(
            f"no agency plays role {role!r} for {target.level} {target.name} ({target.code}) on {on}, "
            f"looked up at level {level!r} from locality {locality.name} ({locality.code})"
        )

    def communes(self, on: date) -> list[Unit]:
        """Every commune-level unit in force on ``on``, in data order."""
        return [u for u in self.units if u.level == "commune" and u.in_force(on)]

    def roles(self) -> frozenset[str]:
        """Every role some agency plays, in any period."""
        return frozenset(a.role for a in self.agencies)

    def change_dates(self) -> list[date]:
        """Sorted days on which some unit or agency starts or stops being in force.

        Between two consecutive change dates every lookup gives the same answer, so checking a
        rule on each change date checks it for every day.
        """
        dates: set[date] = set()
        for item in (*self.units, *self.agencies):
            dates.add(item.effective_from)
            if item.effective_to is not None and item.effective_to < date.max:
                dates.add(item.effective_to + timedelta(days=1))
        return sorted(dates)

    def _unit_at(self, locality: Unit, level: LookupLevel, on: date) -> Unit:
        if level == "locality":
            return locality
        unit: Unit | None = locality
        while unit is not None and unit.level != level:
            unit = self.parent(unit.code, on)
        if unit is None:
            raise NoAgencyForRoleError(
                f"{locality.name} ({locality.code}) has no {level} above it on {on}"
                + (" (districts were abolished on 2025-07-01)" if level == "district" else "")
            )
        return unit


_M = TypeVar("_M", bound=BaseModel)
_V = TypeVar("_V", bound=_Versioned)


def _list(document: dict[str, Any], key: str, file: Path) -> list[Any]:
    items = document.get(key) or []
    if not isinstance(items, list):
        raise GeographyDataError(file, f"{key!r} must be a list")
    return items


def _parse(model: type[_M], raw: Any, file: Path, what: str) -> _M:
    name = raw.get("code") or raw.get("id") if isinstance(raw, dict) else None
    return validated(model, raw, file=file, label=f"{what} {name or raw!r}", error=GeographyDataError)


def _covered(code: str, start: date, end: date | None, units: Iterable[Unit], levels: Iterable[str]) -> bool:
    """True when units with ``code`` at one of ``levels`` are in force on every day of [start, end]."""
    periods = sorted((u for u in units if u.code == code and u.level in set(levels)), key=lambda u: u.effective_from)
    day = start
    for unit in periods:
        if unit.effective_from > day:
            break
        if unit.effective_to is None:
            return True
        if unit.effective_to >= day:
            day = unit.effective_to + timedelta(days=1)
        if end is not None and day > end:
            return True
    return False


def _overlapping_pairs(items: list[tuple[_V, Path]], key: Any) -> Iterator[tuple[_V, _V, Path]]:
    for i, (first, _) in enumerate(items):
        for second, file in items[i + 1 :]:
            if key(first) == key(second) and first.overlaps(second):
                yield first, second, file


def _check_units(units: list[tuple[Unit, Path]]) -> None:
    for first, second, file in _overlapping_pairs(units, key=lambda u: u.code):
        raise GeographyDataError(
            file, f"unit {second.code}: periods of {first.name!r} and {second.name!r} overlap"
        )
    plain = [u for u, _ in units]
    for unit, file in units:
        if unit.parent is not None and not _covered(
            unit.parent, unit.effective_from, unit.effective_to, plain, _PARENT_LEVELS[unit.level]
        ):
            raise GeographyDataError(
                file,
                f"unit {unit.code} ({unit.name}): parent {unit.parent} is not a "
                f"{' or '.join(_PARENT_LEVELS[unit.level])} in force for its whole period",
            )
        for successor in unit.successors:
            assert unit.effective_to is not None  # a unit with successors has ended (checked by Unit)
            day_after = unit.effective_to + timedelta(days=1)
            if not any(s.code == successor and s.level == unit.level and s.in_force(day_after) for s in plain):
                raise GeographyDataError(
                    file,
                    f"unit {unit.code} ({unit.name}): successor {successor} is not a {unit.level} "
                    f"in force on {day_after}",
                )


def _check_agencies(agencies: list[tuple[Agency, Path]], units: list[Unit]) -> None:
    for _, second, file in _overlapping_pairs(agencies, key=lambda a: a.id):
        raise GeographyDataError(file, f"agency {second.id}: two entries with overlapping periods")
    for agency, file in agencies:
        for code in agency.serves:
            if not _covered(code, agency.effective_from, agency.effective_to, units, (agency.level,)):
                raise GeographyDataError(
                    file,
                    f"agency {agency.id} ({agency.name}) serves {code}, which is not a {agency.level} "
                    f"in force for the agency's whole period",
                )
    for first, second, file in _overlapping_pairs(agencies, key=lambda a: a.role):
        if shared := set(first.serves) & set(second.serves):
            raise GeographyDataError(
                file,
                f"agencies {first.id} and {second.id} both play role {first.role!r} for {sorted(shared)} "
                f"in overlapping periods",
            )
