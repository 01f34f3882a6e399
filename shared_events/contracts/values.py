"""Value objects and enumerations used inside contracts."""

from __future__ import annotations

import re
from enum import IntEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from shared_events.contracts.base import ValueObject
from shared_events.scalars import LocalityCode, LongText, PersonName, ShortText

CITIZEN_ID_PATTERN = r"^[0-9]{12}$"
TAX_CODE_PATTERN = r"^[0-9]{10}(-[0-9]{3})?$"
IDENTITY_NUMBER_PATTERN = r"^([0-9]{12}|[0-9]{10}(-[0-9]{3})?)$"

Channel = Literal["desk", "online", "post"]
"""How a dossier was submitted (kênh nộp): at the desk (trực tiếp), online (trực tuyến), by post (bưu chính)."""

_NATIONAL_CHANNEL_NUMBERS: dict[str, int] = {"desk": 1, "online": 2, "post": 3}


def national_channel_number(channel: Channel) -> int:
    """The channel number used by the national public-service portal: desk 1, online 2, post 3."""
    try:
        return _NATIONAL_CHANNEL_NUMBERS[channel]
    except KeyError:
        raise ValueError(f"unknown channel {channel!r}") from None


def channel_from_national_number(number: int) -> Channel:
    """The inverse of :func:`national_channel_number`."""
    for channel, value in _NATIONAL_CHANNEL_NUMBERS.items():
        if value == number:
            return channel  # type: ignore[return-value]
    raise ValueError(f"unknown national channel number {number!r}")


class NationalStatus(IntEnum):
    """National dossier status code (trạng thái hồ sơ) used with the national public-service portal.

    1 Mới · 2 Đã tiếp nhận · 3 Từ chối tiếp nhận · 4 Đang xử lý · 5 Yêu cầu bổ sung ·
    6 Yêu cầu thanh toán · 7 Công dân rút hồ sơ · 8 Dừng xử lý · 9 Đã xử lý xong chờ trả ·
    10 Đã trả kết quả. "Overdue" is not a status: it is derived from due dates.
    """

    NEW = 1
    ACCEPTED = 2
    REFUSED_AT_INTAKE = 3
    PROCESSING = 4
    SUPPLEMENT_REQUESTED = 5
    PAYMENT_REQUESTED = 6
    WITHDRAWN = 7
    STOPPED = 8
    DONE_AWAITING_HANDOVER = 9
    RESULT_RETURNED = 10

    @property
    def label(self) -> str:
        """The Vietnamese label, e.g. ``"Đã tiếp nhận"``."""
        return _STATUS_LABELS[self]


_STATUS_LABELS = {
    NationalStatus.NEW: "Mới",
    NationalStatus.ACCEPTED: "Đã tiếp nhận",
    NationalStatus.REFUSED_AT_INTAKE: "Từ chối tiếp nhận",
    NationalStatus.PROCESSING: "Đang xử lý",
    NationalStatus.SUPPLEMENT_REQUESTED: "Yêu cầu bổ sung",
    NationalStatus.PAYMENT_REQUESTED: "Yêu cầu thanh toán",
    NationalStatus.WITHDRAWN: "Công dân rút hồ sơ",
    NationalStatus.STOPPED: "Dừng xử lý",
    NationalStatus.DONE_AWAITING_HANDOVER: "Đã xử lý xong chờ trả",
    NationalStatus.RESULT_RETURNED: "Đã trả kết quả",
}

TERMINAL_STATUSES = frozenset({NationalStatus.REFUSED_AT_INTAKE, NationalStatus.WITHDRAWN, NationalStatus.STOPPED,
                               NationalStatus.RESULT_RETURNED})
"""A dossier in one of these statuses never changes status again."""

STATUS_OWNERS: dict[NationalStatus, str] = {
    **dict.fromkeys((NationalStatus.NEW, NationalStatus.ACCEPTED, NationalStatus.REFUSED_AT_INTAKE), "intake"),
    **{s: "routing" for s in NationalStatus if s > NationalStatus.REFUSED_AT_INTAKE},
}
"""The one service that decides and publishes each status (docs/STATUS.md)."""

MAX_DOCUMENT_BYTES = 2**30
"""No document anywhere is larger than 1 GiB (procedures set their own, lower, limits)."""

PhoneNumber = Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{8,15}$")]
EmailAddress = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
MediaType = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$"),
    Field(examples=["application/pdf"]),
]


def _if_const(field: str, value: str, then: dict, otherwise: dict | None = None) -> dict:
    rule = {"if": {"properties": {field: {"const": value}}, "required": [field]}, "then": then}
    if otherwise is not None:
        rule["else"] = otherwise
    return rule


class Applicant(ValueObject):
    """The applicant (người nộp hồ sơ / chủ hồ sơ): a citizen (công dân) or an organisation (tổ chức).

    ``identity_number`` is the 12-digit citizen identity number (số định danh cá nhân / CCCD)
    for a citizen, the tax code (mã số thuế: 10 digits, or 10-3 for a dependent unit) for an
    organisation.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                _if_const("kind", "citizen", {"properties": {"identity_number": {"pattern": CITIZEN_ID_PATTERN}}}),
                _if_const("kind", "organisation", {"properties": {"identity_number": {"pattern": TAX_CODE_PATTERN}}}),
            ]
        }
    )

    kind: Literal["citizen", "organisation"]
    full_name: PersonName
    identity_number: Annotated[str, StringConstraints(pattern=IDENTITY_NUMBER_PATTERN)]
    phone: PhoneNumber | None = None
    email: EmailAddress | None = None
    address: LongText | None = None

    @model_validator(mode="after")
    def _identity_number_matches_kind(self) -> Applicant:
        pattern, what = (
            (CITIZEN_ID_PATTERN, "a 12-digit citizen identity number")
            if self.kind == "citizen"
            else (TAX_CODE_PATTERN, "a tax code (10 digits, or 10-3)")
        )
        if not re.fullmatch(pattern, self.identity_number):
            raise ValueError(f"identity_number of a {self.kind} must be {what}")
        return self


class SubmittedDocument(ValueObject):
    """One document of the dossier (thành phần hồ sơ), stored elsewhere and identified by its hash."""

    name: ShortText
    media_type: MediaType
    size_bytes: Annotated[int, Field(strict=True, gt=0, le=MAX_DOCUMENT_BYTES)]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class ResultDelivery(ValueObject):
    """How the result is returned (hình thức nhận kết quả): at the desk, or by public post
    (dịch vụ bưu chính công ích, Decision 45/2016/QĐ-TTg) to ``address``.

    ``address`` is required when ``method`` is ``post`` and must be absent otherwise.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                _if_const(
                    "method", "post",
                    then={"required": ["address"], "properties": {"address": {"type": "string"}}},
                    otherwise={"properties": {"address": {"type": "null"}, "unit_code": {"type": "null"}}},
                )
            ]
        }
    )

    method: Literal["desk", "post"]
    address: LongText | None = None
    unit_code: LocalityCode | None = Field(
        default=None, description="With ``post``: the administrative unit (commune level) of ``address``; "
        "absent, the applicant's unit of residence (``locality_code``) is taken.")

    @model_validator(mode="after")
    def _address_iff_post(self) -> ResultDelivery:
        if self.method == "post" and self.address is None:
            raise ValueError("address is required when the result is delivered by post")
        if self.method != "post" and (self.address is not None or self.unit_code is not None):
            raise ValueError("address and unit_code are only allowed when the result is delivered by post")
        return self


class PickupRequest(ValueObject):
    """The applicant asked the public postal service to collect the dossier at home (thu gom hồ sơ
    tại nhà, Decision 45/2016/QĐ-TTg): where, in which administrative unit (commune level), and
    whom to call."""

    address: LongText
    unit_code: LocalityCode
    phone: PhoneNumber | None = Field(default=None, description="Absent: the applicant's phone.")
