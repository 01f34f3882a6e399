"""Annotated scalar types shared by the envelope and every contract.

Each type validates on construction and exports the same rule to JSON Schema, so a
consumer written in another language sees the constraint the Python model enforces.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

RFC3339_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
AGENCY_ID_PATTERN = r"^[A-Z0-9.]{1,35}$"
DOSSIER_CODE_PATTERN = r"^[A-Z0-9.]{1,35}-[0-9]{6}-[0-9]{4,6}$"
LOCALITY_CODE_PATTERN = r"^[0-9]{2,5}$"
PARTY_ID_PATTERN = r"^\S{1,128}$"
PROCEDURE_CODE_PATTERN = r"^[0-9A-Za-z._-]{1,60}$"

_RFC3339 = re.compile(RFC3339_PATTERN)

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
"""Vietnam's time zone (UTC+7, no daylight saving): days of receipt, dossier codes, working days."""

EARLIEST_INSTANT = datetime(2000, 1, 1, tzinfo=UTC)
"""No instant a request or a message carries is earlier than this."""

LATEST_AHEAD = timedelta(days=5 * 366)
"""Nor later than this far ahead of the wall clock (appointments, due times)."""


def latest_instant() -> datetime:
    """The latest instant accepted now: the wall clock plus :data:`LATEST_AHEAD`."""
    return datetime.now(UTC) + LATEST_AHEAD


def _to_utc(value: object) -> datetime:
    """Accept an aware ``datetime`` or an RFC 3339 string; return it converted to UTC."""
    if isinstance(value, str):
        if not _RFC3339.match(value):
            raise ValueError("must be an RFC 3339 timestamp with an offset, e.g. 2025-11-28T08:30:00Z")
        try:
            value = datetime.fromisoformat(value.upper().replace(" ", "T"))
        except ValueError as exc:
            raise ValueError(f"is not a valid timestamp ({exc})") from None
    if not isinstance(value, datetime):
        raise ValueError("must be an RFC 3339 timestamp string or an aware datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a UTC offset (a naive datetime is ambiguous)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the range of representable instants") from None
    if utc < EARLIEST_INSTANT:
        raise ValueError(f"must not be before {EARLIEST_INSTANT.isoformat()}")
    if utc > latest_instant():
        raise ValueError(f"must not be more than {LATEST_AHEAD.days} days ahead of now")
    return utc


def _dossier_code_has_a_real_date(code: str) -> str:
    yymmdd = code.split("-")[-2]
    try:
        datetime.strptime(yymmdd, "%y%m%d")
    except ValueError:
        raise ValueError("the yyMMdd part of the dossier code is not a calendar date") from None
    return code


UtcDatetime = Annotated[
    datetime,
    BeforeValidator(_to_utc),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN}),
]
"""An instant: aware datetime (or RFC 3339 string), always normalised to UTC; serialised with ``Z``.

Bounded: not before :data:`EARLIEST_INSTANT`, not more than :data:`LATEST_AHEAD` ahead of the
wall clock, so no arithmetic on it (working-day calendars, offsets) can overflow."""

AgencyId = Annotated[
    str,
    StringConstraints(pattern=AGENCY_ID_PATTERN),
    Field(description="Agency electronic id (mã định danh điện tử, Decision 20/2020/QĐ-TTg); opaque.",
          examples=["000.00.01.H40"]),
]

DossierCode = Annotated[
    str,
    StringConstraints(pattern=DOSSIER_CODE_PATTERN),
    AfterValidator(_dossier_code_has_a_real_date),
    Field(description="Dossier code (mã hồ sơ): <receiving agency id>-<yyMMdd>-<NNNN>, counter daily per agency "
                      "(past 9999 in a day the number widens, up to 6 digits).",
          examples=["000.00.01.H40-251128-0001"]),
]

LocalityCode = Annotated[
    str,
    StringConstraints(pattern=LOCALITY_CODE_PATTERN),
    Field(description="Administrative-unit code (mã đơn vị hành chính): 2-digit province, "
                      "3-digit district (before 1 July 2025) or 5-digit commune.",
          examples=["01", "00004"]),
]

PartyId = Annotated[
    str,
    StringConstraints(pattern=PARTY_ID_PATTERN),
    Field(description="Opaque id of the acting party (officer, citizen account, system client)."),
]

ProcedureCode = Annotated[
    str,
    StringConstraints(pattern=PROCEDURE_CODE_PATTERN),
    Field(description="Administrative procedure code (mã thủ tục hành chính).", examples=["2.000635"]),
]

BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
"""Bidirectional marks, embeddings, overrides and isolates: they reorder how a text is shown."""
BYTE_ORDER_MARK = "\ufeff"
"""Also the zero-width no-break space."""
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")

_NAME_REFUSED = "\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069\\ufeff"
NAME_PATTERN = f"^[^{_NAME_REFUSED}]*[^{_NAME_REFUSED}\\s][^{_NAME_REFUSED}]*$"
"""The characters a name may not hold, as JSON Schema says it (combining-only is checked in code)."""


def _nfc(value: object) -> object:
    """Unicode NFC, so one name typed as NFC or NFD is one value (other types are left to pydantic)."""
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def _storable(value: str) -> str:
    """Refuse what PostgreSQL cannot keep as text: NUL (pydantic refuses unpaired surrogates)."""
    if "\0" in value:
        raise PydanticCustomError("text_nul_character", "must not contain a NUL character")
    return value


def _name_characters(value: str) -> str:
    """Refuse controls, bidi controls, the BOM and a name made of combining marks only."""
    if _CONTROL.search(value):
        raise PydanticCustomError("text_control_character", "must not contain control characters")
    if _BIDI.search(value):
        raise PydanticCustomError("text_bidi_control", "must not contain bidirectional control characters")
    if BYTE_ORDER_MARK in value:
        raise PydanticCustomError("text_byte_order_mark", "must not contain a byte order mark (U+FEFF)")
    if all(unicodedata.category(c).startswith("M") or c.isspace() for c in value):
        raise PydanticCustomError("text_only_combining_marks", "must not consist of combining marks only")
    return value


ShortText = Annotated[
    str,
    BeforeValidator(_nfc),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=r"\S"),
    AfterValidator(_storable),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"\S"}),
]
"""A non-blank single-line text (titles, step names), NFC, surrounding whitespace removed, no NUL."""

LongText = Annotated[
    str,
    BeforeValidator(_nfc),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=r"\S"),
    AfterValidator(_storable),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 2000, "pattern": r"\S"}),
]
"""A non-blank free text (reasons, addresses), NFC, surrounding whitespace removed, no NUL."""

PersonName = Annotated[
    ShortText,
    AfterValidator(_name_characters),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 255, "pattern": NAME_PATTERN,
                    "description": "A name (NFC): no control, bidirectional-control or U+FEFF characters, "
                                   "not blank, not made of combining marks only."}),
]
"""The name of a person or an organisation, as people read it on forms and in inboxes."""
