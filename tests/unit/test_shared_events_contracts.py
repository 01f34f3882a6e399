"""The value objects and rules inside the contracts: dossier codes, applicants, delivery, statuses."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter, ValidationError

from services.problems import validation_message
from shared_events import (
    Applicant,
    DossierCode,
    DossierStatusChanged,
    DossierSubmitted,
    NationalStatus,
    ResultDelivery,
    SubmittedDocument,
    channel_from_national_number,
    national_channel_number,
)
from shared_events.examples import example
from shared_events.scalars import LongText, ShortText

DOSSIER_CODE = TypeAdapter(DossierCode)


@pytest.mark.parametrize("code", ["000.00.01.H40-251128-0001", "G22-240229-9999", "H40.1-250701-0000"])
def test_a_dossier_code_names_the_agency_the_day_and_a_counter(code):
    assert DOSSIER_CODE.validate_python(code) == code


@pytest.mark.parametrize("code", [
    "000.00.01.h40-251128-0001", "000.00.01.H40-2511280001", "000.00.01.H40-251128-001",
    "000.00.01.H40-251128-0000001", "000.00.01.H40-251128-001", "000-00-01-H40-251128-0001", "",
    "000.00.01.H40-251128-0001 ",
])
def test_a_malformed_dossier_code_is_rejected(code):
    with pytest.raises(ValidationError, match="String should match pattern"):
        DOSSIER_CODE.validate_python(code)


@pytest.mark.parametrize("code", ["000.00.01.H40-250230-0001", "000.00.01.H40-251301-0001", "X-250229-0001"])
def test_a_dossier_code_with_an_impossible_date_is_rejected(code):
    with pytest.raises(ValidationError, match="not a calendar date"):
        DOSSIER_CODE.validate_python(code)


@pytest.mark.parametrize(("kind", "identity_number"), [
    ("citizen", "001203004567"), ("organisation", "0101234567"), ("organisation", "0101234567-001"),
])
def test_an_applicant_is_identified_by_citizen_id_or_tax_code(kind, identity_number):
    applicant = Applicant(kind=kind, full_name="  Công ty TNHH Hoa Sen  ", identity_number=identity_number)

    assert applicant.full_name == "Công ty TNHH Hoa Sen"


@pytest.mark.parametrize(("kind", "identity_number", "reason"), [
    ("citizen", "0101234567", "must be a 12-digit citizen identity number"),
    ("organisation", "001203004567", "must be a tax code"),
    ("citizen", "00120300456", "String should match pattern"),
])
def test_an_identity_number_must_suit_the_kind_of_applicant(kind, identity_number, reason):
    with pytest.raises(ValidationError, match=reason):
        Applicant(kind=kind, full_name="Trần Văn An", identity_number=identity_number)


@pytest.mark.parametrize("field", [{"full_name": "   "}, {"phone": "09x"}, {"email": "an@"}])
def test_an_applicant_with_a_blank_name_or_bad_contact_is_rejected(field):
    with pytest.raises(ValidationError):
        Applicant(**{"kind": "citizen", "full_name": "Trần Văn An", "identity_number": "001203004567", **field})


def test_a_result_sent_by_post_needs_an_address_and_one_collected_at_the_desk_has_none():
    assert ResultDelivery(method="post", address="12 Lê Lợi, Huế").address == "12 Lê Lợi, Huế"
    assert ResultDelivery(method="desk").address is None
    with pytest.raises(ValidationError, match="address is required"):
        ResultDelivery(method="post")
    with pytest.raises(ValidationError, match="only allowed when the result is delivered by post"):
        ResultDelivery(method="desk", address="12 Lê Lợi, Huế")
    with pytest.raises(ValidationError, match="only allowed when the result is delivered by post"):
        ResultDelivery(method="desk", unit_code="17011")


@pytest.mark.parametrize("change", [
    {"size_bytes": 0}, {"size_bytes": True}, {"sha256": "AB" * 32}, {"sha256": "ab"}, {"media_type": "PDF"},
])
def test_a_submitted_document_needs_a_positive_size_a_lowercase_sha256_and_a_media_type(change):
    fields = {"name": "Giấy khai sinh", "media_type": "application/pdf", "size_bytes": 1, "sha256": "ab" * 32}
    with pytest.raises(ValidationError):
        SubmittedDocument(**{**fields, **change})


def test_a_submitted_dossier_has_at_least_one_document():
    with pytest.raises(ValidationError, match="documents"):
        example(DossierSubmitted, documents=())


@pytest.mark.parametrize("status", [NationalStatus.NEW, NationalStatus.ACCEPTED])
def test_a_dossier_is_submitted_as_new_or_already_accepted(status):
    assert example(DossierSubmitted, national_status=status).national_status is status


def test_a_dossier_cannot_be_submitted_in_a_later_status():
    with pytest.raises(ValidationError, match="national_status"):
        example(DossierSubmitted, national_status=NationalStatus.PROCESSING)


def test_times_are_aware_and_kept_in_utc():
    local = datetime(2025, 11, 28, 15, 5, tzinfo=timezone(timedelta(hours=7)))

    changed = example(DossierStatusChanged, changed_at=local)

    assert changed.changed_at == local and changed.changed_at.tzinfo is UTC
    with pytest.raises(ValidationError, match="UTC offset"):
        example(DossierStatusChanged, changed_at=datetime(2025, 11, 28, 15, 5))


def test_contracts_are_immutable():
    changed = example(DossierStatusChanged)

    with pytest.raises(ValidationError, match="frozen"):
        changed.national_status = NationalStatus.STOPPED


def test_the_national_statuses_carry_their_vietnamese_labels():
    assert [(status.value, status.label) for status in NationalStatus] == [
        (1, "Mới"), (2, "Đã tiếp nhận"), (3, "Từ chối tiếp nhận"), (4, "Đang xử lý"), (5, "Yêu cầu bổ sung"),
        (6, "Yêu cầu thanh toán"), (7, "Công dân rút hồ sơ"), (8, "Dừng xử lý"), (9, "Đã xử lý xong chờ trả"),
        (10, "Đã trả kết quả"),
    ]


def test_channels_map_to_the_national_channel_numbers_and_back():
    assert [national_channel_number(channel) for channel in ("desk", "online", "post")] == [1, 2, 3]
    assert [channel_from_national_number(number) for number in (1, 2, 3)] == ["desk", "online", "post"]
    with pytest.raises(ValueError):
        national_channel_number("fax")
    with pytest.raises(ValueError):
        channel_from_national_number(4)


# --- text at the edge ------------------------------------------------------------------

NFC_NAME = unicodedata.normalize("NFC", "Nguyễn Thị Ngọc Ánh")
NFD_NAME = unicodedata.normalize("NFD", NFC_NAME)


def an_applicant(full_name: str) -> Applicant:
    return Applicant(kind="citizen", full_name=full_name, identity_number="001203004567")


def test_one_name_typed_in_nfc_or_nfd_is_one_value() -> None:
    assert NFD_NAME != NFC_NAME

    assert an_applicant(NFD_NAME).full_name == NFC_NAME
    assert an_applicant(NFD_NAME) == an_applicant(NFC_NAME)


@pytest.mark.parametrize("text_type", [ShortText, LongText], ids=["short text", "long text"])
def test_texts_are_normalised_to_nfc(text_type) -> None:
    assert TypeAdapter(text_type).validate_python(f"  {NFD_NAME}  ") == NFC_NAME


@pytest.mark.parametrize("text_type", [ShortText, LongText], ids=["short text", "long text"])
def test_texts_refuse_a_nul_character(text_type) -> None:
    with pytest.raises(ValidationError) as refused:
        TypeAdapter(text_type).validate_python("Lý do\x00 khác")

    assert refused.value.errors()[0]["type"] == "text_nul_character"


@pytest.mark.parametrize(("name", "code"), [
    ("Trần\x00Văn An", "text_nul_character"),
    ("Trần\x07Văn An", "text_control_character"),
    ("Trần\nVăn An", "text_control_character"),
    ("Trần\x85Văn An", "text_control_character"),
    ("Trần Văn \u202eAn", "text_bidi_control"),
    ("Trần \u202aVăn\u202c An", "text_bidi_control"),
    ("Trần \u2066Văn\u2069 An", "text_bidi_control"),
    ("\u200fTrần Văn An", "text_bidi_control"),
    ("\ufeffTrần Văn An", "text_byte_order_mark"),
    ("Trần\ufeffVăn An", "text_byte_order_mark"),
    ("\u0301\u0300\u0303", "text_only_combining_marks"),
    ("\u0301 \u0323", "text_only_combining_marks"),
], ids=["NUL", "bell", "new line inside", "next line", "right-to-left override", "left-to-right embedding",
        "isolate", "right-to-left mark", "leading BOM", "zero-width no-break space inside",
        "combining marks only", "combining marks and a space"])
def test_a_name_with_characters_that_hide_or_reorder_text_is_refused(name: str, code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        an_applicant(name)

    error = refused.value.errors()[0]
    assert error["loc"] == ("full_name",)
    assert error["type"] == code
    assert validation_message(error) != error["msg"]  # a Vietnamese reason of its own


def test_a_name_with_combining_marks_on_letters_is_accepted() -> None:
    assert an_applicant("Nguye\u0302\u0303n Văn A").full_name == "Nguyễn Văn A"


def test_the_published_schema_of_a_name_refuses_what_the_model_refuses() -> None:
    pattern = re.compile(Applicant.model_json_schema()["properties"]["full_name"]["pattern"])

    assert pattern.match(NFC_NAME)
    for refused in ("Trần\x00An", "Trần \u202eAn", "\ufeffAn", "   "):
        assert not pattern.match(refused)
