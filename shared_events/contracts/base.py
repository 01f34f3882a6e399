"""Base classes of every event contract and value object.

A contract is a frozen pydantic model that forbids unknown fields when it is built, and
declares three class variables:

* ``TYPE``: the CloudEvents type without its version, e.g. ``vn.lienthong.intake.dossier.submitted``;
* ``VERSION``: a positive integer; on the wire the type is ``f"{TYPE}.v{VERSION}"``;
* ``TOPIC``: the Kafka topic it is published on (see :mod:`shared_events.topics`).

An :class:`Upcaster` turns the ``data`` of version N of a type into the ``data`` of N+1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

SCHEMA_BASE_URI = "https://lienthong.gov.vn/schemas/events/"


class ValueObject(BaseModel):
    """Immutable, compared by value, and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Contract(ValueObject):
    """The ``data`` of one published event type at one version."""

    TYPE: ClassVar[str]
    VERSION: ClassVar[int]
    TOPIC: ClassVar[str]

    @classmethod
    def versioned_type(cls) -> str:
        """The CloudEvents ``type`` attribute, e.g. ``vn.lienthong.intake.dossier.submitted.v1``."""
        return f"{cls.TYPE}.v{cls.VERSION}"

    @classmethod
    def schema_uri(cls) -> str:
        """The ``$id`` of the exported JSON Schema and the envelope's ``dataschema``."""
        return f"{SCHEMA_BASE_URI}{cls.versioned_type()}.json"

    @property
    def subject(self) -> str:
        """What the event is about: its envelope ``subject`` and Kafka key (the dossier code;
        a contract about something else names it)."""
        return str(getattr(self, "dossier_code"))  # noqa: B009  (not every contract declares it)


UpcastFunction = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Upcaster:
    """Rewrites the data of ``type`` version ``from_version`` into version ``from_version + 1``.

    ``upcast`` receives a copy of the old data (already valid for the old version when its
    model is still registered) and returns the new data; it must not have side effects.
    """

    type: str
    from_version: int
    upcast: UpcastFunction
