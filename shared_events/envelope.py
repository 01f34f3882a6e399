"""The CloudEvents 1.0 envelope every Kafka message carries (structured mode, JSON format).

A message value is one UTF-8 JSON object::

    {"specversion": "1.0", "id": "...", "source": "/lienthong/intake",
     "type": "vn.lienthong.intake.dossier.submitted.v1", "subject": "000.00.01.H40-251128-0001",
     "time": "2025-11-28T01:30:00Z", "datacontenttype": "application/json",
     "dataschema": "https://lienthong.gov.vn/schemas/events/...v1.json",
     "correlationid": "...", "causationid": "...", "data": {...}}

Our profile of the specification:

* ``subject`` is required and is the dossier code; it is also the Kafka message key.
* ``type`` ends with the contract version (``.v1``); see :mod:`shared_events.registry`.
* ``time`` is an RFC 3339 timestamp with an offset and is normalised to UTC.
* ``datacontenttype`` is ``application/json`` (assumed when absent); ``data`` is a JSON object.
  ``data_base64`` (binary data) is not supported.
* ``correlationid`` (required) and ``causationid`` (optional) are extension attributes;
  other extensions are kept if their names are lowercase letters and digits and their
  values are strings, integers or booleans.

:func:`decode` raises :class:`EnvelopeError` with a reason for anything else.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Final, Literal
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, model_validator

from shared_events.errors import EnvelopeError, describe_validation_error
from shared_events.scalars import UtcDatetime

SPEC_VERSION = "1.0"
JSON_CONTENT_TYPE: Final = "application/json"

EVENT_ID_NAMESPACE = UUID("5d36b87b-5079-5b25-90c9-1f7eb6cbb2fe")
"""Namespace of :func:`deterministic_event_id`: ``uuid5(NAMESPACE_URL, "https://lienthong.gov.vn/events")``.

Never change it: event ids must stay stable forever."""

_INT32 = range(-(2**31), 2**31)

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
UriReference = Annotated[str, StringConstraints(pattern=r"^\S+$")]
Uri = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")]


class CloudEvent(BaseModel):
    """One CloudEvents 1.0 event in our profile (see the module docstring)."""

    model_config = ConfigDict(
        frozen=True,
        extra="allow",
        json_schema_extra={
            "propertyNames": {"pattern": "^[a-z0-9]+$"},
            "additionalProperties": {"type": ["string", "integer", "boolean"]},
        },
    )

    specversion: Literal["1.0"]
    id: NonEmpty
    source: UriReference
    type: NonEmpty
    subject: NonEmpty
    time: UtcDatetime
    datacontenttype: Literal["application/json"] = JSON_CONTENT_TYPE
    dataschema: Uri | None = None
    correlationid: NonEmpty
    causationid: NonEmpty | None = None
    data: dict[str, Any]

    @model_validator(mode="after")
    def _extensions_are_well_formed(self) -> CloudEvent:
        for name, value in (self.model_extra or {}).items():
            if name == "data_base64":
                raise ValueError("data_base64 (binary data) is not supported; data must be a JSON object")
            if not name.isascii() or not name.isalnum() or name != name.lower():
                raise ValueError(f"'{name}' is not a valid attribute name (lowercase letters and digits only)")
            if isinstance(value, bool | str):
                continue
            if not isinstance(value, int) or value not in _INT32:
                raise ValueError(f"extension '{name}' must be a string, a 32-bit integer or a boolean")
        return self

    @property
    def extensions(self) -> dict[str, Any]:
        """Extension attributes other than ``correlationid`` and ``causationid``."""
        return dict(self.model_extra or {})


def encode(event: CloudEvent) -> bytes:
    """Serialise ``event`` as compact UTF-8 JSON; non-ASCII text is kept as is.

    Absent optional attributes are omitted rather than written as ``null``.
    """
    attributes = {key: value for key, value in event.model_dump(mode="json").items() if value is not None}
    try:
        text = json.dumps(attributes, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise EnvelopeError(f"the event is not representable as JSON: {exc}") from exc
    return text.encode("utf-8")


def decode(raw: bytes) -> CloudEvent:
    """Parse one message value; raise :class:`EnvelopeError` if it is not a valid envelope."""
    if raw is None:
        raise EnvelopeError("the message has no value (a tombstone?)")
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise EnvelopeError(f"expected bytes, got {type(raw).__name__}")
    document = _parse_json(bytes(raw))
    if not isinstance(document, dict):
        raise EnvelopeError(f"expected a JSON object, got {_json_kind(document)}")
    if "specversion" in document and document["specversion"] != SPEC_VERSION:
        raise EnvelopeError(f"unsupported specversion {document['specversion']!r} (only '1.0' is supported)")
    try:
        return CloudEvent.model_validate(document)
    except ValidationError as exc:
        raise EnvelopeError(f"invalid envelope: {describe_validation_error(exc)}") from exc


def deterministic_event_id(originator_id: UUID, version: int) -> str:
    """The CloudEvents ``id`` of the stored event ``version`` of aggregate ``originator_id``.

    A name-based UUID (uuid5) in :data:`EVENT_ID_NAMESPACE`, so re-publishing the same
    stored event always yields the same id and consumers can drop the duplicate.
    """
    if not isinstance(originator_id, UUID):
        raise TypeError(f"originator_id must be a UUID, got {type(originator_id).__name__}")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError("version must be a non-negative integer")
    return str(uuid5(EVENT_ID_NAMESPACE, f"{originator_id}/{version}"))


class _DuplicateKeyError(ValueError):
    pass


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(f"duplicate key {key!r} in a JSON object")
        result[key] = value
    return result


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        raise EnvelopeError("the message is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvelopeError(f"not UTF-8: invalid byte at position {exc.start}") from exc
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise EnvelopeError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except ValueError as exc:
        raise EnvelopeError(f"not strict JSON: {exc}") from exc
    except RecursionError as exc:
        raise EnvelopeError("not usable JSON: nested too deeply") from exc


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)
