"""The CloudEvents envelope: encoding, decoding, and every way a message can be malformed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared_events import CloudEvent, EnvelopeError, EventError, decode, deterministic_event_id, encode
from shared_events.envelope import EVENT_ID_NAMESPACE


def an_envelope(**overrides: object) -> dict:
    attributes = {
        "specversion": "1.0",
        "id": str(uuid4()),
        "source": "/lienthong/intake",
        "type": "vn.lienthong.intake.dossier.accepted.v1",
        "subject": "000.00.01.H40-251128-0001",
        "time": "2025-11-28T01:30:00Z",
        "datacontenttype": "application/json",
        "correlationid": str(uuid4()),
        "data": {"dossier_code": "000.00.01.H40-251128-0001", "note": "Đã tiếp nhận hồ sơ"},
    }
    attributes.update(overrides)
    return attributes


def raw(attributes: dict) -> bytes:
    return json.dumps(attributes, ensure_ascii=False).encode("utf-8")


def without(attribute: str) -> bytes:
    attributes = an_envelope()
    del attributes[attribute]
    return raw(attributes)


def test_an_envelope_survives_encoding_and_decoding_unchanged():
    event = CloudEvent.model_validate(an_envelope(causationid=str(uuid4()), traceparent="00-abc-def-01"))

    assert decode(encode(event)) == event


def test_encoding_is_compact_utf8_json_that_keeps_vietnamese_text_as_is():
    encoded = encode(CloudEvent.model_validate(an_envelope()))

    assert "Đã tiếp nhận hồ sơ".encode() in encoded
    assert b"\\u" not in encoded
    assert b", " not in encoded and b": " not in encoded


def test_absent_optional_attributes_are_omitted_rather_than_written_as_null():
    encoded = json.loads(encode(CloudEvent.model_validate(an_envelope())))

    assert "causationid" not in encoded
    assert "dataschema" not in encoded
    assert encoded["datacontenttype"] == "application/json"


def test_a_time_with_an_offset_is_normalised_to_utc():
    event = decode(raw(an_envelope(time="2025-11-28T08:30:00.250+07:00")))

    assert event.time == datetime(2025, 11, 28, 1, 30, 0, 250000, tzinfo=UTC)
    assert event.time.utcoffset() == timedelta(0)
    assert json.loads(encode(event))["time"] == "2025-11-28T01:30:00.250000Z"


def test_a_missing_datacontenttype_means_json():
    attributes = an_envelope()
    del attributes["datacontenttype"]

    assert decode(raw(attributes)).datacontenttype == "application/json"


def test_other_extension_attributes_are_kept():
    event = decode(raw(an_envelope(traceparent="00-4bf92f-00f067-01", retries=2, replayed=True)))

    assert event.extensions == {"traceparent": "00-4bf92f-00f067-01", "retries": 2, "replayed": True}


def test_a_payload_that_is_not_json_is_rejected_with_a_reason():
    with pytest.raises(EnvelopeError) as rejected:
        decode(b"<dossier>000.00.01.H40-251128-0001</dossier>")

    assert rejected.value.reason.startswith("not JSON: ")


MALFORMED = {
    "an empty message": (b"", "the message is empty"),
    "a tombstone": (None, "no value"),
    "a text instead of bytes": ('{"id": "1"}', "expected bytes, got str"),
    "bytes that are not utf-8": (b'{"id": "\xff"}', "not UTF-8"),
    "a json array": (b"[1, 2]", "expected a JSON object, got an array"),
    "a json string": (b'"hello"', "expected a JSON object, got a string"),
    "a duplicated attribute": (b'{"id": "a", "id": "b"}', "duplicate key 'id'"),
    "a NaN inside data": (raw(an_envelope()).replace(b'"note"', b'"n": NaN, "note"'), "NaN is not a JSON number"),
    "no specversion": (without("specversion"), "specversion: missing"),
    "specversion 0.3": (raw(an_envelope(specversion="0.3")), "unsupported specversion '0.3'"),
    "specversion as a number": (raw(an_envelope(specversion=1.0)), "unsupported specversion 1.0"),
    "no id": (without("id"), "id: missing"),
    "an empty id": (raw(an_envelope(id="")), "id: String should have at least 1 character"),
    "a numeric id": (raw(an_envelope(id=42)), "id: Input should be a valid string"),
    "no source": (without("source"), "source: missing"),
    "a source with spaces": (raw(an_envelope(source="/lien thong")), "source: String should match pattern"),
    "no type": (without("type"), "type: missing"),
    "no subject": (without("subject"), "subject: missing"),
    "no time": (without("time"), "time: missing"),
    "a time without offset": (raw(an_envelope(time="2025-11-28T08:30:00")), "time: must be an RFC 3339 timestamp"),
    "a time that is a date": (raw(an_envelope(time="2025-11-28")), "time: must be an RFC 3339 timestamp"),
    "a time in words": (raw(an_envelope(time="yesterday")), "time: must be an RFC 3339 timestamp"),
    "a time as epoch seconds": (raw(an_envelope(time=1764293400)), "time: must be an RFC 3339 timestamp string"),
    "a 30 February": (raw(an_envelope(time="2025-02-30T00:00:00Z")), "time: is not a valid timestamp"),
    "no correlationid": (without("correlationid"), "correlationid: missing"),
    "an xml content type": (raw(an_envelope(datacontenttype="application/xml")), "datacontenttype: Input should be"),
    "a relative dataschema": (raw(an_envelope(dataschema="schemas/x.json")), "dataschema: String should match"),
    "no data": (without("data"), "data: missing"),
    "data that is a list": (raw(an_envelope(data=[1, 2])), "data: Input should be a valid dictionary"),
    "binary data": (raw(an_envelope(data_base64="AAEC")), "data_base64 (binary data) is not supported"),
    "an uppercase extension": (raw(an_envelope(traceParent="x")), "'traceParent' is not a valid attribute name"),
    "an extension with underscore": (raw(an_envelope(trace_id="x")), "'trace_id' is not a valid attribute name"),
    "an object extension": (raw(an_envelope(trace={"id": 1})), "extension 'trace' must be a string"),
    "a 64-bit integer extension": (raw(an_envelope(sequence=2**40)), "extension 'sequence' must be"),
}


@pytest.mark.parametrize(("message", "reason"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_envelope_is_rejected_with_a_reason_that_names_the_problem(message, reason):
    with pytest.raises(EnvelopeError) as rejected:
        decode(message)

    assert reason in rejected.value.reason
    assert isinstance(rejected.value, EventError)


def test_a_reason_lists_every_problem_at_once():
    attributes = an_envelope(time="2025-11-28T08:30:00")
    del attributes["id"]

    with pytest.raises(EnvelopeError) as rejected:
        decode(raw(attributes))

    assert "id: missing" in rejected.value.reason
    assert "time: must" in rejected.value.reason


def test_an_envelope_cannot_be_built_with_a_naive_time():
    with pytest.raises(ValidationError, match="UTC offset"):
        CloudEvent.model_validate(an_envelope(time=datetime(2025, 11, 28, 8, 30)))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(data=st.dictionaries(st.text(), JSON_VALUES, max_size=6), subject=st.text(min_size=1))
def test_any_json_data_and_subject_survive_a_round_trip(data, subject):
    event = CloudEvent.model_validate(an_envelope(data=data, subject=subject))

    assert decode(encode(event)) == event


def test_the_event_id_namespace_is_derived_from_the_project_url():
    assert uuid5(NAMESPACE_URL, "https://lienthong.gov.vn/events") == EVENT_ID_NAMESPACE


def test_republishing_a_stored_event_yields_the_same_id():
    originator_id = uuid4()

    assert deterministic_event_id(originator_id, 3) == deterministic_event_id(originator_id, 3)
    assert deterministic_event_id(originator_id, 3) != deterministic_event_id(originator_id, 4)
    assert deterministic_event_id(originator_id, 3) != deterministic_event_id(uuid4(), 3)


def test_event_ids_never_change_across_releases():
    originator_id = UUID("12345678-1234-5678-1234-567812345678")

    assert deterministic_event_id(originator_id, 1) == str(uuid5(EVENT_ID_NAMESPACE, f"{originator_id}/1"))
    assert UUID(deterministic_event_id(originator_id, 1)).version == 5


@pytest.mark.parametrize(("originator_id", "version", "error"), [
    (uuid4(), -1, ValueError), (uuid4(), True, ValueError), (uuid4(), "1", ValueError), ("not-a-uuid", 1, TypeError),
])
def test_an_event_id_needs_a_uuid_and_a_non_negative_version(originator_id, version, error):
    with pytest.raises(error):
        deterministic_event_id(originator_id, version)
