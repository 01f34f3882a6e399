"""The exported JSON Schemas: up to date, valid, and in agreement with the models."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from shared_events import CONTRACTS, REGISTRY, Applicant, DossierSubmitted, ResultDelivery, encode, to_cloud_event
from shared_events.examples import example
from shared_events.export import DEFAULT_SCHEMA_DIR, ENVELOPE_FILE, find_drift, main, render_schemas

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def validator_for(file_name: str) -> Draft202012Validator:
    schema = json.loads((DEFAULT_SCHEMA_DIR / file_name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def wire_form(contract) -> dict:
    return contract.model_dump(mode="json")


def test_the_committed_schemas_match_the_models():
    assert find_drift(DEFAULT_SCHEMA_DIR) == []


def test_there_is_one_schema_per_registered_contract_and_one_for_the_envelope():
    expected = {f"{type_}.v{version}.json" for type_, version in REGISTRY} | {ENVELOPE_FILE}

    assert {path.name for path in DEFAULT_SCHEMA_DIR.glob("*.json")} == expected


@pytest.mark.parametrize("model", CONTRACTS, ids=lambda model: model.__name__)
def test_an_example_of_every_contract_validates_against_its_schema(model):
    validator = validator_for(f"{model.versioned_type()}.json")

    validator.validate(wire_form(example(model)))
    assert validator.schema["$id"] == model.schema_uri()


@pytest.mark.parametrize("model", CONTRACTS, ids=lambda model: model.__name__)
def test_an_envelope_of_every_contract_validates_against_the_envelope_schema(model):
    contract = example(model)
    event = to_cloud_event(contract, id=str(uuid4()), source="/lienthong/tests", subject=contract.subject,
                           time=datetime.now(UTC), correlation_id=str(uuid4()))

    validator_for(ENVELOPE_FILE).validate(json.loads(encode(event)))


def submitted_with(**changes) -> dict:
    data = wire_form(example(DossierSubmitted))
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = data
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return data


DISAGREEABLE = {
    "a citizen identified by a tax code": submitted_with(applicant__identity_number="0101234567"),
    "an organisation identified by a citizen id": submitted_with(applicant__kind="organisation"),
    "a postal result without address": submitted_with(result_delivery={"method": "post"}),
    "a desk result with an address": submitted_with(result_delivery={"method": "desk", "address": "12 Lê Lợi"}),
    "a later national status": submitted_with(national_status=4),
    "no documents": submitted_with(documents=[]),
    "an unknown field": submitted_with(priority="high"),
    "a naive time": submitted_with(received_at="2025-11-28T08:30:00"),
    "a blank reason-like text": submitted_with(procedure_version="   "),
}


@pytest.mark.parametrize("instance", DISAGREEABLE.values(), ids=DISAGREEABLE.keys())
def test_the_schema_rejects_what_the_model_rejects(instance):
    with pytest.raises(ValidationError):
        DossierSubmitted.model_validate(instance)
    assert list(validator_for(f"{DossierSubmitted.versioned_type()}.json").iter_errors(instance))


def test_the_export_is_deterministic_with_sorted_keys():
    first, second = render_schemas(), render_schemas()

    assert first == second
    for content in first.values():
        assert content == json.dumps(json.loads(content), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_check_passes_on_a_fresh_export_and_fails_on_drift(tmp_path, capsys):
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--out", str(tmp_path), "--check"]) == 0

    schema_file = tmp_path / f"{DossierSubmitted.versioned_type()}.json"
    schema_file.write_text(schema_file.read_text(encoding="utf-8").replace('"minItems": 1', '"minItems": 0'))
    (tmp_path / "vn.lienthong.gone.v1.json").write_text("{}")
    (tmp_path / ENVELOPE_FILE).unlink()

    assert main(["--out", str(tmp_path), "--check"]) == 1
    errors = capsys.readouterr().err
    assert f"out of date: {schema_file}" in errors
    assert "stale (no registered contract)" in errors
    assert f"missing: {tmp_path / ENVELOPE_FILE}" in errors


def test_the_export_command_explains_itself():
    completed = subprocess.run(
        [sys.executable, "-m", "shared_events.export", "--help"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )

    assert completed.returncode == 0
    assert "--check" in completed.stdout and "--out DIR" in completed.stdout


def test_value_objects_are_described_with_their_vietnamese_terms():
    assert "người nộp hồ sơ" in Applicant.model_json_schema()["description"]
    assert "hình thức nhận kết quả" in ResultDelivery.model_json_schema()["description"]
