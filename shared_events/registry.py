"""From contracts to envelopes and back, across versions.

A :class:`Registry` maps ``(type, version)`` to the contract model and holds upcasters.
Rules it enforces:

* the wire type is ``f"{TYPE}.v{VERSION}"``;
* producers may emit only the newest registered version of a type (:func:`to_cloud_event`);
* consumers always receive the newest version (:func:`from_cloud_event`): older data is
  validated against its own model when that model is still registered, then upcast step
  by step (N → N+1 → … → newest) and validated against the newest model;
* data is read strictly as JSON (no ``"2"`` for ``2``, no ``true`` for ``1``), and fields
  the newest model does not know are ignored, so an additive change can reach consumers
  before they are upgraded (tolerant reader). Building a contract in code still forbids them.

Errors: :class:`UnknownEventTypeError` for a type or version we cannot read,
:class:`ContractViolationError` for data that breaks the contract; both are
:class:`ContractError`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from shared_events.contracts import CONTRACTS, UPCASTERS, Contract, Upcaster, UpcastFunction
from shared_events.envelope import SPEC_VERSION, CloudEvent
from shared_events.errors import (
    ContractViolationError,
    EnvelopeError,
    UnknownEventTypeError,
    describe_validation_error,
)

_VERSIONED_TYPE = re.compile(r"^(?P<type>[a-z0-9]+(?:[.-][a-z0-9]+)+)\.v(?P<version>[1-9][0-9]*)$")
_TYPE = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)+$")


def parse_versioned_type(versioned_type: str) -> tuple[str, int]:
    """Split ``vn.lienthong.x.y.v2`` into ``("vn.lienthong.x.y", 2)``."""
    match = _VERSIONED_TYPE.match(versioned_type)
    if match is None or re.search(r"\.v[0-9]+$", match["type"]):
        raise UnknownEventTypeError(f"type {versioned_type!r} does not end with a version suffix '.vN'")
    return match["type"], int(match["version"])


class Registry(Mapping[tuple[str, int], type[Contract]]):
    """Contract models by ``(type, version)``, plus upcasters between consecutive versions."""

    def __init__(self, contracts: Iterable[type[Contract]] = (), upcasters: Iterable[Upcaster] = ()) -> None:
        self._models: dict[tuple[str, int], type[Contract]] = {}
        self._upcasters: dict[tuple[str, int], UpcastFunction] = {}
        for model in contracts:
            self.register(model)
        for upcaster in upcasters:
            self.register_upcaster(upcaster.type, upcaster.from_version, upcaster.upcast)

    def __getitem__(self, key: tuple[str, int]) -> type[Contract]:
        return self._models[key]

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(sorted(self._models))

    def __len__(self) -> int:
        return len(self._models)

    def register(self, model: type[Contract]) -> type[Contract]:
        """Add a contract model; usable as a class decorator."""
        if not _TYPE.match(getattr(model, "TYPE", "")) or re.search(r"\.v[0-9]+$", model.TYPE):
            raise ValueError(f"{model.__name__}.TYPE must be a dotted lowercase name without a version suffix")
        if isinstance(model.VERSION, bool) or not isinstance(model.VERSION, int) or model.VERSION < 1:
            raise ValueError(f"{model.__name__}.VERSION must be a positive integer")
        key = (model.TYPE, model.VERSION)
        if key in self._models and self._models[key] is not model:
            raise ValueError(f"{model.versioned_type()} is already registered to {self._models[key].__name__}")
        self._models[key] = model
        return model

    def register_upcaster(self, type_: str, from_version: int, upcast: UpcastFunction) -> UpcastFunction:
        """Add the function turning ``type_`` data from ``from_version`` into ``from_version + 1``."""
        key = (type_, from_version)
        if key in self._upcasters and self._upcasters[key] is not upcast:
            raise ValueError(f"an upcaster from {type_}.v{from_version} is already registered")
        self._upcasters[key] = upcast
        return upcast

    def newest(self, type_: str) -> type[Contract]:
        """The newest registered model of ``type_``."""
        versions = [version for (name, version) in self._models if name == type_]
        if not versions:
            raise UnknownEventTypeError(f"unknown event type {type_!r}")
        return self._models[(type_, max(versions))]

    def verify(self) -> None:
        """Raise ``ValueError`` unless every older registered version can be upcast to the newest
        and every upcaster leads to a registered version."""
        for type_, from_version in self._upcasters:
            newest = self.newest(type_).VERSION if any(t == type_ for t, _ in self._models) else 0
            if from_version >= newest:
                raise ValueError(f"upcaster from {type_}.v{from_version} leads to no registered model")
        for type_, version in self._models:
            for step in range(version, self.newest(type_).VERSION):
                if (type_, step) not in self._upcasters:
                    raise ValueError(f"{type_}.v{version} cannot be upcast: no upcaster from v{step}")

    def read(self, versioned_type: str, data: Mapping[str, Any]) -> Contract:
        """Validate ``data`` of ``versioned_type`` and return it as the newest contract version."""
        type_, version = parse_versioned_type(versioned_type)
        model = self.newest(type_)
        if version > model.VERSION:
            raise UnknownEventTypeError(
                f"{versioned_type} is newer than the newest known version v{model.VERSION}; upgrade this consumer"
            )
        document = copy.deepcopy(dict(data))
        if version < model.VERSION:
            old_model = self._models.get((type_, version))
            if old_model is not None:
                _validate(old_model, document)
            document = self._upcast(type_, version, model.VERSION, document)
        return _validate(model, document)

    def _upcast(self, type_: str, version: int, target: int, data: dict[str, Any]) -> dict[str, Any]:
        for step in range(version, target):
            upcast = self._upcasters.get((type_, step))
            if upcast is None:
                raise UnknownEventTypeError(f"{type_}.v{version} cannot be read: no upcaster from v{step}")
            try:
                data = upcast(data)
            except Exception as exc:  # an upcaster meeting unexpected data is a contract problem
                raise ContractViolationError(
                    f"upcasting {type_} from v{step} to v{step + 1} failed: {type(exc).__name__}: {exc}"
                ) from exc
            if not isinstance(data, dict):
                raise ContractViolationError(f"upcaster of {type_} from v{step} did not return a dict")
        return data


def _validate(model: type[Contract], data: dict[str, Any]) -> Contract:
    try:
        return model.model_validate_json(json.dumps(data, allow_nan=False), strict=True, extra="ignore")
    except ValidationError as exc:
        reason = describe_validation_error(exc)
        raise ContractViolationError(f"data of {model.versioned_type()} breaks its contract: {reason}") from exc
    except (TypeError, ValueError) as exc:
        raise ContractViolationError(f"data of {model.versioned_type()} is not JSON: {exc}") from exc


REGISTRY = Registry(CONTRACTS, UPCASTERS)
"""Every published contract and upcaster; the default of :func:`to_cloud_event` / :func:`from_cloud_event`."""


def to_cloud_event(
    contract: Contract,
    *,
    id: str,
    source: str,
    subject: str,
    time: datetime,
    correlation_id: str,
    causation_id: str | None = None,
    registry: Registry = REGISTRY,
) -> CloudEvent:
    """Wrap ``contract`` in an envelope ready for :func:`shared_events.envelope.encode`.

    Raises :class:`UnknownEventTypeError` if the contract's class is not registered,
    :class:`ContractViolationError` if it is not the newest version of its type or if
    ``subject`` differs from its ``dossier_code``, and :class:`EnvelopeError` for bad
    attributes (e.g. a naive ``time``).
    """
    model = type(contract)
    type_, version = getattr(model, "TYPE", None), getattr(model, "VERSION", None)
    if not isinstance(type_, str) or not isinstance(version, int) or registry.get((type_, version)) is not model:
        raise UnknownEventTypeError(f"{model.__name__} is not a registered contract")
    newest = registry.newest(model.TYPE)
    if newest is not model:
        raise ContractViolationError(
            f"{model.versioned_type()} is not the newest version (v{newest.VERSION}); producers emit only the newest"
        )
    dossier_code = getattr(contract, "dossier_code", subject)
    if subject != dossier_code:
        raise ContractViolationError("subject must be the contract's dossier_code")
    try:
        return CloudEvent(
            specversion=SPEC_VERSION,
            id=id,
            source=source,
            type=model.versioned_type(),
            subject=subject,
            time=time,
            dataschema=model.schema_uri(),
            correlationid=correlation_id,
            causationid=causation_id,
            data=contract.model_dump(mode="json"),
        )
    except ValidationError as exc:
        raise EnvelopeError(f"invalid envelope: {describe_validation_error(exc)}") from exc


def from_cloud_event(event: CloudEvent, *, registry: Registry = REGISTRY) -> Contract:
    """The event's data as the newest version of its contract (see the module docstring).

    Also raises :class:`ContractViolationError` if ``subject`` differs from the data's ``dossier_code``.
    """
    contract = registry.read(event.type, event.data)
    if getattr(contract, "dossier_code", event.subject) != event.subject:
        raise ContractViolationError("subject must be the contract's dossier_code")
    return contract
