"""Errors raised when an event cannot be read or written.

Every error carries a human-readable ``reason`` meant for logs and dead-letter headers.
Reasons name the offending attribute or field and the rule it broke; they never echo the
offending value, because values may be personal data (names, identity numbers).

Hierarchy::

    EventError                 anything that makes a message unusable (dead-letter it)
    ├── EnvelopeError          the CloudEvents envelope is malformed
    └── ContractError          the envelope is fine but its ``data`` is not a known contract
        ├── UnknownEventTypeError
        └── ContractViolationError
"""

from __future__ import annotations

from pydantic import ValidationError


class EventError(Exception):
    """A message that cannot be used; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EnvelopeError(EventError):
    """The bytes are not a valid CloudEvents 1.0 structured-mode JSON envelope."""


class ContractError(EventError):
    """The event's type or data does not match a registered contract."""


class UnknownEventTypeError(ContractError):
    """No contract (or no upcaster chain) is registered for the event's type and version."""


class ContractViolationError(ContractError):
    """The event's data breaks its contract, or a producer tried to emit it wrongly."""


def describe_validation_error(exc: ValidationError) -> str:
    """Summarise a pydantic error as ``location: problem; ...`` without input values."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "(root)"
        if error["type"] == "missing":
            parts.append(f"{location}: missing")
        else:
            parts.append(f"{location}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)
