"""Intake refuses what routing could never route: the reference-data rules, one by one."""

from __future__ import annotations

from datetime import date

import pytest

from intake.reference import ReferenceData, check_reference

DESK = "000.00.01.H40"  # the province's public-administration service centre (from 2025-01-01)
COMMUNE = "16690"
AFTER_REFORM = date(2025, 11, 28)


@pytest.fixture(scope="module")
def reference() -> ReferenceData:
    return ReferenceData.load()


def problems(reference: ReferenceData, **overrides: object) -> list[tuple[str, str]]:
    fields: dict[str, object] = {"procedure_code": "2.000635", "locality_code": COMMUNE, "receiving_agency_id": DESK,
                                 "options": (), "on": AFTER_REFORM}
    fields.update(overrides)
    return [(p.field, p.code) for p in check_reference(reference, **fields)]  # type: ignore[arg-type]


def test_a_submission_routing_can_route_has_no_problems(reference: ReferenceData) -> None:
    assert problems(reference) == []


def test_a_locality_code_no_unit_ever_had_is_refused(reference: ReferenceData) -> None:
    assert problems(reference, locality_code="99999") == [("locality_code", "locality_unknown")]


def test_a_locality_that_is_a_province_not_a_commune_is_refused(reference: ReferenceData) -> None:
    assert problems(reference, locality_code="40") == [("locality_code", "locality_unknown")]


def test_a_district_is_no_locality_after_districts_were_abolished(reference: ReferenceData) -> None:
    assert problems(reference, locality_code="412") == [("locality_code", "locality_unknown")]


def test_a_commune_merged_away_is_not_in_force_after_the_merger(reference: ReferenceData) -> None:
    merged = next(u for u in reference.geography.units
                  if u.level == "commune" and u.effective_to is not None and u.successors
                  and not any(v.code == u.code and v.in_force(AFTER_REFORM) for v in reference.geography.units))

    assert problems(reference, locality_code=merged.code) == [("locality_code", "locality_unknown")]


def test_a_receiving_agency_that_does_not_exist_is_refused(reference: ReferenceData) -> None:
    assert problems(reference, receiving_agency_id="999.99.99.H99") == [("receiving_agency_id", "agency_unknown")]


def test_a_receiving_agency_not_yet_in_force_on_the_day_of_receipt_is_refused(reference: ReferenceData) -> None:
    assert ("receiving_agency_id", "agency_unknown") in problems(reference, on=date(2024, 12, 31))


def test_an_agency_without_a_one_stop_desk_does_not_receive_dossiers(reference: ReferenceData) -> None:
    police = "000.60.06.H40"

    assert problems(reference, receiving_agency_id=police) == [("receiving_agency_id", "agency_not_receiving")]


def test_a_procedure_with_no_route_in_force_on_the_day_is_refused(reference: ReferenceData) -> None:
    # The catalogue has 2.000635 since 2016; its route starts on 1 January 2025.
    assert ("procedure_code", "procedure_not_routed") in problems(reference, on=date(2024, 12, 2))


def test_a_procedure_routing_has_no_route_for_at_all_is_refused(reference: ReferenceData) -> None:
    assert problems(reference, procedure_code="9.999999") == [("procedure_code", "procedure_not_routed")]


def test_every_problem_is_reported_at_once(reference: ReferenceData) -> None:
    assert problems(reference, procedure_code="9.999999", locality_code="99999",
                    receiving_agency_id="999.99.99.H99") == [
        ("locality_code", "locality_unknown"), ("receiving_agency_id", "agency_unknown"),
        ("procedure_code", "procedure_not_routed")]


def test_every_reason_is_given_in_vietnamese_and_names_the_day(reference: ReferenceData) -> None:
    found = check_reference(reference, procedure_code="2.000635", locality_code="99999",
                            receiving_agency_id="999.99.99.H99", options=(), on=AFTER_REFORM)

    assert all("28/11/2025" in p.message_vi for p in found)
