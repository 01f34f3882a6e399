"""Geography: administrative units and agencies with effective periods, and the pure resolvers."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from routing.geography import (
    DEFAULT_PATH,
    Geography,
    GeographyDataError,
    NoAgencyForRoleError,
    NoSuccessorError,
    UnknownAgencyError,
    UnknownUnitError,
)

LAST_DAY_OF_DISTRICTS = date(2025, 6, 30)
FIRST_DAY_OF_TWO_LEVELS = date(2025, 7, 1)


@pytest.fixture(scope="module")
def geography() -> Geography:
    return Geography.load()


def copy_of_packaged_data(tmp_path: Path) -> Path:
    target = tmp_path / "geography"
    shutil.copytree(DEFAULT_PATH, target)
    return target


def edit(folder: Path, file: str, change) -> Path:
    """Apply ``change`` to the parsed YAML of ``folder/file`` and write it back."""
    path = folder / file
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_the_packaged_sample_province_loads(geography):
    assert geography.unit("40", LAST_DAY_OF_DISTRICTS).name == "Tỉnh Nghệ An"
    assert geography.unit("40", FIRST_DAY_OF_TWO_LEVELS).name == "Tỉnh Nghệ An"


def test_a_commune_on_30_june_2025_sits_in_a_district_of_the_province(geography):
    district = geography.parent("16690", LAST_DAY_OF_DISTRICTS)
    assert (district.code, district.name, district.level) == ("412", "Thành phố Vinh", "district")
    assert geography.parent("412", LAST_DAY_OF_DISTRICTS).code == "40"


def test_a_commune_from_1_july_2025_sits_directly_in_the_province(geography):
    province = geography.parent("16690", FIRST_DAY_OF_TWO_LEVELS)
    assert (province.code, province.level) == ("40", "province")


def test_a_reused_code_denotes_the_old_ward_before_the_merger_and_the_new_ward_after(geography):
    assert geography.unit("16690", LAST_DAY_OF_DISTRICTS).name == "Phường Trường Thi"
    assert geography.unit("16690", FIRST_DAY_OF_TWO_LEVELS).name == "Phường Trường Vinh"


def test_districts_are_not_in_force_after_30_june_2025(geography):
    with pytest.raises(UnknownUnitError, match="412"):
        geography.unit("412", FIRST_DAY_OF_TWO_LEVELS)


@pytest.mark.parametrize(
    ("old_code", "new_code", "new_name"),
    [
        ("16693", "16690", "Phường Trường Vinh"),  # Bến Thủy
        ("16670", "17920", "Phường Vinh Hưng"),  # Quán Bàu
        ("17893", "17827", "Xã Nghi Lộc"),  # Nghi Trung
        ("17467", "17464", "Xã Diễn Châu"),  # Diễn Phúc
    ],
)
def test_an_old_commune_code_used_after_the_merger_maps_to_its_successor(geography, old_code, new_code, new_name):
    successor = geography.successor(old_code, FIRST_DAY_OF_TWO_LEVELS)
    assert (successor.code, successor.name) == (new_code, new_name)


def test_a_code_still_in_force_is_its_own_successor(geography):
    assert geography.successor("16693", LAST_DAY_OF_DISTRICTS).name == "Phường Bến Thủy"


def test_an_abolished_district_has_no_successor(geography):
    with pytest.raises(NoSuccessorError, match="412"):
        geography.successor("412", FIRST_DAY_OF_TWO_LEVELS)


def test_an_unknown_code_is_refused(geography):
    with pytest.raises(UnknownUnitError, match="99999"):
        geography.successor("99999", FIRST_DAY_OF_TWO_LEVELS)


def test_before_july_2025_a_district_role_resolves_to_the_district_office(geography):
    agency = geography.resolve("land_registration_branch", "17893", "district", LAST_DAY_OF_DISTRICTS)
    assert agency.level == "district"
    assert agency.serves == ("429",)
    assert "Nghi Lộc" in agency.name


def test_from_july_2025_there_is_no_district_to_look_up(geography):
    with pytest.raises(NoAgencyForRoleError, match="no district above"):
        geography.resolve("land_registration_branch", "17827", "district", FIRST_DAY_OF_TWO_LEVELS)


def test_from_july_2025_a_regional_branch_serves_the_commune_itself(geography):
    agency = geography.resolve("land_registration_branch", "17827", "locality", FIRST_DAY_OF_TWO_LEVELS)
    assert agency.level == "commune"
    assert "17827" in agency.serves and len(agency.serves) > 1


def test_an_old_locality_code_resolves_through_its_successor(geography):
    via_old_code = geography.resolve("commune_civil_status", "16693", "locality", FIRST_DAY_OF_TWO_LEVELS)
    assert via_old_code.name == "Ủy ban nhân dân phường Trường Vinh"


def test_a_role_nobody_plays_is_refused_with_a_clear_message(geography):
    message = r"no agency plays role 'astrology' for commune Phường Trường Thi \(16690\) on 2025-06-30"
    with pytest.raises(NoAgencyForRoleError, match=message):
        geography.resolve("astrology", "16690", "locality", LAST_DAY_OF_DISTRICTS)


def test_a_province_code_is_not_a_locality(geography):
    with pytest.raises(NoAgencyForRoleError, match="not a commune"):
        geography.resolve("province_justice", "40", "province", LAST_DAY_OF_DISTRICTS)


def test_the_business_registration_office_moves_to_the_finance_department_on_1_march_2025(geography):
    before = geography.resolve("business_registration", "16690", "province", date(2025, 2, 28))
    after = geography.resolve("business_registration", "16690", "province", date(2025, 3, 1))
    assert "Sở Kế hoạch và Đầu tư" in before.name
    assert "Sở Tài chính" in after.name


def test_an_agency_is_found_by_id_only_within_its_period(geography):
    agency = geography.resolve("tax", "16690", "district", LAST_DAY_OF_DISTRICTS)
    assert geography.agency(agency.id, LAST_DAY_OF_DISTRICTS) == agency
    with pytest.raises(UnknownAgencyError, match=agency.id):
        geography.agency(agency.id, FIRST_DAY_OF_TWO_LEVELS)


def test_central_agencies_are_stream_integrated_and_local_ones_use_rest(geography):
    central = {"police_residence", "police_records", "tax", "social_insurance"}
    for agency in geography.agencies:
        assert agency.integration == ("kafka" if agency.role in central else "rest"), agency.name


def test_every_sample_agency_id_is_marked_invented(geography):
    assert all(agency.sample == "invented" and not agency.verified for agency in geography.agencies)


def test_every_sample_unit_names_its_source(geography):
    assert all(unit.source for unit in geography.units)


@given(day=st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 12, 31)))
def test_every_commune_in_force_on_any_day_has_a_civil_status_office_and_police(geography, day):
    communes = geography.communes(day)
    assert communes
    for commune in communes:
        for role in ("commune_civil_status", "police_residence"):
            assert commune.code in geography.resolve(role, commune.code, "locality", day).serves


def test_change_dates_include_the_day_districts_were_abolished(geography):
    assert FIRST_DAY_OF_TWO_LEVELS in geography.change_dates()
    assert LAST_DAY_OF_DISTRICTS + timedelta(days=1) == FIRST_DAY_OF_TWO_LEVELS


# Bad data is refused at load, naming the file and the reason.


def test_overlapping_periods_of_one_unit_code_are_refused(tmp_path):
    folder = copy_of_packaged_data(tmp_path)

    def stretch_trường_thi(document):
        for unit in document["units"]:
            if unit["name"] == "Phường Trường Thi":
                unit["effective_to"] = date(2025, 7, 1)

    edit(folder, "nghe-an-units.yaml", stretch_trường_thi)
    with pytest.raises(GeographyDataError, match=r"nghe-an-units.yaml: unit 16690: periods .* overlap"):
        Geography.load(folder)


def test_a_unit_whose_parent_is_not_in_force_is_refused(tmp_path):
    folder = copy_of_packaged_data(tmp_path)
    edit(folder, "nghe-an-units.yaml", lambda d: d["units"][4].update(parent="499"))
    with pytest.raises(GeographyDataError, match="parent 499 is not a district or province"):
        Geography.load(folder)


def test_a_successor_that_does_not_exist_is_refused(tmp_path):
    folder = copy_of_packaged_data(tmp_path)
    edit(folder, "nghe-an-units.yaml", lambda d: d["units"][4].update(successors=["18888"]))
    with pytest.raises(GeographyDataError, match="successor 18888 is not a commune in force on 2025-07-01"):
        Geography.load(folder)


def test_an_agency_serving_a_unit_outside_its_period_is_refused(tmp_path):
    folder = copy_of_packaged_data(tmp_path)
    edit(folder, "nghe-an-agencies-until-2025-06-30.yaml", lambda d: d["agencies"][0].update(effective_to=None))
    with pytest.raises(GeographyDataError, match="not a district in force for the agency's whole period"):
        Geography.load(folder)


def test_two_agencies_playing_one_role_for_one_unit_at_once_are_refused(tmp_path):
    folder = copy_of_packaged_data(tmp_path)

    def duplicate_first_agency(document):
        twin = dict(document["agencies"][0], id="999.99.99.H40")
        document["agencies"].append(twin)

    edit(folder, "nghe-an-agencies-province.yaml", duplicate_first_agency)
    with pytest.raises(GeographyDataError, match="both play role 'province_justice'"):
        Geography.load(folder)


def test_an_agency_id_outside_the_opaque_alphabet_is_refused(tmp_path):
    folder = copy_of_packaged_data(tmp_path)
    edit(folder, "nghe-an-agencies-province.yaml", lambda d: d["agencies"][0].update(id="so-tu-phap"))
    with pytest.raises(GeographyDataError, match=r"nghe-an-agencies-province.yaml: agency 'so-tu-phap': id"):
        Geography.load(folder)


def test_a_code_of_the_wrong_length_for_its_level_is_refused(tmp_path):
    folder = copy_of_packaged_data(tmp_path)
    edit(folder, "nghe-an-units.yaml", lambda d: d["units"][1].update(code="4120"))
    with pytest.raises(GeographyDataError, match="a district code has 3 digits"):
        Geography.load(folder)


def test_an_entry_cannot_be_both_verified_and_invented(tmp_path):
    folder = copy_of_packaged_data(tmp_path)
    edit(folder, "nghe-an-units.yaml", lambda d: d["units"][0].update(sample="invented"))
    with pytest.raises(GeographyDataError, match="both verified and sample: invented"):
        Geography.load(folder)


def test_unknown_top_level_keys_are_refused(tmp_path):
    folder = copy_of_packaged_data(tmp_path)
    edit(folder, "nghe-an-units.yaml", lambda d: d.update(unit=[]))
    with pytest.raises(GeographyDataError, match=r"unknown top-level keys \['unit'\]"):
        Geography.load(folder)
