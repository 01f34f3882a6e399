"""The procedure catalogue (danh mục thủ tục hành chính) of the intake service.

Each procedure lives in one YAML file under ``intake/catalogue/`` named after its national
code, holding a list of versions with effective dates (see ``docs/CATALOGUE.md``).  A dossier
keeps the version in force on the day it was received, so versions of one code must tile time:
no overlap, no gap, only the latest may be open-ended.

Pure: the only I/O is reading the packaged data files in :meth:`Catalogue.load`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date, time, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from services.datafiles import DataFileError, read_mapping, validated, yaml_files

Channel = Literal["desk", "online", "post"]
ResultDelivery = Literal["desk", "post"]
AgencyLevel = Literal["commune", "district", "province", "central"]

DEFAULT_FOLDER = Path(__file__).with_name("catalogue")

ProcedureCode = Annotated[str, Field(pattern=r"^\d\.\d{6}$")]
Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
Text = Annotated[str, Field(min_length=1)]
MediaType = Annotated[str, Field(pattern=r"^[a-z]+/[a-z0-9.+-]+$")]


def _clock_time_as_text(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 15:00 as the integer 900; refuse it rather than guess.
    if isinstance(value, time | str):
        return value
    raise ValueError('give the time as a quoted "HH:MM" string')


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceNote(_Frozen):
    """Where a fact comes from; ``verified`` only when checked against the cited text itself."""

    fact: Text
    document: Text
    verified: bool = False


class TimeLimit(_Frozen):
    """Statutory time limit.  ``value == 0`` means the same working day, which needs a
    ``cutoff``: a dossier received after it counts from the next working day."""

    value: int = Field(ge=0)
    unit: Literal["working_days", "working_hours"]
    cutoff: Annotated[time | None, BeforeValidator(_clock_time_as_text)] = None

    @model_validator(mode="after")
    def _same_day_has_cutoff(self) -> TimeLimit:
        if (self.value == 0) != (self.cutoff is not None):
            raise ValueError("a cutoff is given exactly when the limit is the same day (value 0)")
        if self.value == 0 and self.unit != "working_days":
            raise ValueError("a same-day limit is counted in working_days")
        return self


class RequiredDocument(_Frozen):
    """One item of the dossier (thành phần hồ sơ), submitted under the name ``key``.

    Required always when ``required``; otherwise required when the applicant chose one of
    the options in ``required_with``."""

    key: Key
    name: Text
    media_types: tuple[MediaType, ...] = Field(min_length=1)
    max_size_bytes: int = Field(gt=0)
    required: bool
    required_with: tuple[Key, ...] = ()
    copies: int = Field(default=1, ge=1)

    def is_required(self, options: Collection[str]) -> bool:
        """Whether the dossier must contain this document, given the chosen options."""
        return self.required or any(option in options for option in self.required_with)


class Fee(_Frozen):
    """A fee or charge (phí, lệ phí).  ``amount_vnd`` is None when it is not fixed nationally
    (set by the provincial People's Council, or computed by the agency — see ``notes``)."""

    key: Key
    name: Text
    amount_vnd: int | None = Field(ge=0)
    per: Literal["dossier", "copy"] = "dossier"
    notes: str = ""


class ProcedureOption(_Frozen):
    """A follow-on procedure the applicant may choose to join (e.g. funeral allowance)."""

    key: Key
    name: Text


class ProcedureVersion(_Frozen):
    """One version of a procedure, in force from ``effective_from`` to ``effective_to``
    (both inclusive; ``None`` = until further notice)."""

    code: ProcedureCode
    code_source: SourceNote
    version: Text
    effective_from: date
    effective_to: date | None = None
    name: Text
    field: Text
    time_limit: TimeLimit
    documents: tuple[RequiredDocument, ...] = Field(min_length=1)
    fees: tuple[Fee, ...] = ()
    channels: tuple[Channel, ...] = Field(min_length=1)
    result_delivery: tuple[ResultDelivery, ...] = Field(min_length=1)
    agency_levels: tuple[AgencyLevel, ...] = Field(min_length=1)
    options: tuple[ProcedureOption, ...] = ()
    sources: tuple[SourceNote, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> ProcedureVersion:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        for label, keys in (
            ("document", [d.key for d in self.documents]),
            ("fee", [f.key for f in self.fees]),
            ("option", [o.key for o in self.options]),
        ):
            if len(set(keys)) != len(keys):
                raise ValueError(f"{label} keys are not unique: {keys}")
        undeclared = {k for d in self.documents for k in d.required_with} - self.option_keys
        if undeclared:
            raise ValueError(f"required_with names undeclared options: {sorted(undeclared)}")
        return self

    @property
    def option_keys(self) -> frozenset[str]:
        return frozenset(o.key for o in self.options)

    def covers(self, on: date) -> bool:
        """Whether this version is in force on ``on``."""
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)


class CatalogueError(DataFileError):
    """The catalogue data is invalid; ``source`` names the file (or code) at fault."""

    @property
    def source(self) -> str:
        return self.file


class _ProcedureFile(_Frozen):
    code: ProcedureCode
    code_source: SourceNote
    versions: tuple[dict[str, Any], ...] = Field(min_length=1)


def _period_problem(versions: Sequence[ProcedureVersion]) -> str | None:
    """Why the versions of one code do not tile time, or None if they do."""
    ids = [v.version for v in versions]
    if len(set(ids)) != len(ids):
        return f"version ids are not unique: {ids}"
    ordered = sorted(versions, key=lambda v: v.effective_from)
    for earlier, later in pairwise(ordered):
        if earlier.effective_to is None or earlier.effective_to >= later.effective_from:
            return f"versions {earlier.version} and {later.version} overlap"
        if earlier.effective_to + timedelta(days=1) != later.effective_from:
            return f"gap between versions {earlier.version} and {later.version}"
    return None


def _read_file(path: Path) -> list[ProcedureVersion]:
    raw = read_mapping(path, error=CatalogueError, name=path.name)
    parsed = validated(_ProcedureFile, raw, file=path.name, label="procedure", error=CatalogueError)
    versions = [
        validated(ProcedureVersion, {**v, "code": parsed.code, "code_source": parsed.code_source},
                  file=path.name, label=f"version {v.get('version')!r}", error=CatalogueError)
        for v in parsed.versions
    ]
    if path.stem != parsed.code:
        raise CatalogueError(path.name, f"file name does not match code {parsed.code}")
    if problem := _period_problem(versions):
        raise CatalogueError(path.name, problem)
    return versions


class Catalogue:
    """All versions of all procedures; immutable once built."""

    def __init__(self, versions: Iterable[ProcedureVersion]) -> None:
        """Raises :class:`CatalogueError` if the versions of one code overlap or leave a gap."""
        by_code: dict[str, list[ProcedureVersion]] = {}
        for v in versions:
            by_code.setdefault(v.code, []).append(v)
        for code, group in by_code.items():
            if problem := _period_problem(group):
                raise CatalogueError(code, problem)
        self._by_code = {
            code: tuple(sorted(group, key=lambda v: v.effective_from)) for code, group in sorted(by_code.items())
        }

    @classmethod
    def load(cls, path: Path | str | None = None) -> Catalogue:
        """Read and validate every ``*.yaml`` file in ``path`` (default: the packaged folder).

        Raises :class:`CatalogueError` naming the first bad file and the reason."""
        folder = Path(path) if path is not None else DEFAULT_FOLDER
        versions: list[ProcedureVersion] = []
        for file in yaml_files(folder, error=CatalogueError, suffixes={".yaml"},
                               none_found="no procedure files (*.yaml) found"):
            versions.extend(_read_file(file))
        return cls(versions)

    def codes(self) -> tuple[str, ...]:
        """The procedure codes, sorted."""
        return tuple(self._by_code)

    def versions(self, code: str) -> tuple[ProcedureVersion, ...]:
        """The versions of ``code``, oldest first; empty for an unknown code."""
        return self._by_code.get(code, ())

    def find(self, code: str, on: date) -> ProcedureVersion | None:
        """The version of ``code`` in force on ``on``, or None (unknown code, or no version then)."""
        return next((v for v in self.versions(code) if v.covers(on)), None)


class SubmissionProblem(_Frozen):
    """One reason a submission does not fit its procedure.

    ``field`` points into the submission (``channel``, ``documents[2].media_type``, or
    ``documents.<key>`` for a missing document);
    ``code`` is a stable English slug; ``message_vi`` is for the citizen."""

    field: str
    code: str
    message_vi: str


_CHANNEL_VI = {"desk": "trực tiếp", "online": "trực tuyến", "post": "dịch vụ bưu chính công ích"}
_DELIVERY_VI = {"desk": "nhận trực tiếp", "post": "qua dịch vụ bưu chính công ích"}


def _megabytes(size: int) -> str:
    return f"{size / 1_048_576:.1f}".replace(".", ",") + " MB"


def _file_problems(index: int, document: RequiredDocument, media_type: str, size: int) -> list[SubmissionProblem]:
    problems = []
    if media_type.split(";")[0].strip().lower() not in document.media_types:
        problems.append(SubmissionProblem(
            field=f"documents[{index}].media_type", code="document_media_type_not_accepted",
            message_vi=f"Tệp “{document.name}” có định dạng {media_type} không được chấp nhận; "
                       f"định dạng được chấp nhận: {', '.join(document.media_types)}."))
    if size <= 0:
        problems.append(SubmissionProblem(
            field=f"documents[{index}].size_bytes", code="document_empty",
            message_vi=f"Tệp “{document.name}” không có nội dung (dung lượng 0 byte)."))
    elif size > document.max_size_bytes:
        problems.append(SubmissionProblem(
            field=f"documents[{index}].size_bytes", code="document_too_large",
            message_vi=f"Tệp “{document.name}” có dung lượng {_megabytes(size)}, "
                       f"vượt quá mức tối đa {_megabytes(document.max_size_bytes)}."))
    return problems


def check_submission(
    procedure: ProcedureVersion,
    *,
    channel: str,
    result_delivery_method: str,
    documents: Sequence[tuple[str, str, int]],
    options: Collection[str] = (),
    pickup: bool = False,
) -> list[SubmissionProblem]:
    """Every way the submission does not fit ``procedure``; an empty list means it fits.

    ``documents`` are ``(name, media_type, size_bytes)``, where ``name`` is the key of a
    required document; several files may share a name (e.g. scanned pages).  ``options``
    are the follow-on procedures the applicant chose; ``pickup``, whether the applicant asked
    for the papers to be collected at home by post.  Problem codes: ``channel_not_allowed``,
    ``pickup_not_offered`` (the procedure takes no dossier by post), ``result_delivery_not_allowed``,
    ``option_unknown``, ``document_unknown``, ``document_media_type_not_accepted``,
    ``document_empty``, ``document_too_large``, ``document_missing``.
    """
    problems: list[SubmissionProblem] = []
    if channel not in procedure.channels:
        problems.append(SubmissionProblem(
            field="channel", code="channel_not_allowed",
            message_vi=f"Thủ tục “{procedure.name}” không tiếp nhận hồ sơ qua hình thức "
                       f"{_CHANNEL_VI.get(channel, channel)}."))
    if pickup and "post" not in procedure.channels:
        problems.append(SubmissionProblem(
            field="pickup", code="pickup_not_offered",
            message_vi=f"Thủ tục “{procedure.name}” không tiếp nhận hồ sơ qua dịch vụ bưu chính công ích, "
                       "nên không thu gom hồ sơ tại nhà."))
    if result_delivery_method not in procedure.result_delivery:
        problems.append(SubmissionProblem(
            field="result_delivery_method", code="result_delivery_not_allowed",
            message_vi=f"Thủ tục “{procedure.name}” không trả kết quả theo hình thức "
                       f"{_DELIVERY_VI.get(result_delivery_method, result_delivery_method)}."))
    for option in sorted(set(options) - procedure.option_keys):
        problems.append(SubmissionProblem(
            field="options", code="option_unknown",
            message_vi=f"Lựa chọn “{option}” không áp dụng cho thủ tục này."))

    by_key = {d.key: d for d in procedure.documents}
    for index, (name, media_type, size) in enumerate(documents):
        if (document := by_key.get(name)) is None:
            problems.append(SubmissionProblem(
                field=f"documents[{index}].name", code="document_unknown",
                message_vi=f"Giấy tờ “{name}” không thuộc thành phần hồ sơ của thủ tục này."))
        else:
            problems.extend(_file_problems(index, document, media_type, size))

    submitted = {name for name, _, _ in documents}
    for document in procedure.documents:
        if document.key not in submitted and document.is_required(options):
            problems.append(SubmissionProblem(
                field=f"documents.{document.key}", code="document_missing",
                message_vi=f"Hồ sơ còn thiếu giấy tờ bắt buộc: {document.name}."))
    return problems
