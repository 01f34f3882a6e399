"""The procedure catalogue: loading versioned data, effective dates, and checking submissions."""

from __future__ import annotations

import random
import shutil
from datetime import date, time, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from intake.catalogue import (
    DEFAULT_FOLDER,
    Catalogue,
    CatalogueError,
    ProcedureVersion,
    check_submission,
)
from intake.reference import ReferenceData
from intake.time_limits import (
    TimeLimitsDisagreeError,
    UndeclaredDocumentError,
    check_declared_documents,
    check_time_limits,
    critical_path,
)
from routing.routes import DEFAULT_PATH as ROUTES_FOLDER
from routing.routes import RouteBook

SCENARIO_CODES = ("1.001193", "1.001233", "1.004227", "2.001610", "2.000488", "2.000635")
PDF = "application/pdf"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


def in_force(catalogue: Catalogue, code: str, on: date = date(2025, 7, 1)) -> ProcedureVersion:
    version = catalogue.find(code, on)
    assert version is not None
    return version


def complete_documents(procedure: ProcedureVersion, options=()) -> list[tuple[str, str, int]]:
    """One acceptable file for every document the procedure requires."""
    return [
        (d.key, d.media_types[0], random.randint(1, d.max_size_bytes))
        for d in procedure.documents
        if d.is_required(options)
    ]


def valid_submission(procedure: ProcedureVersion) -> dict:
    return {
        "channel": procedure.channels[0],
        "result_delivery_method": procedure.result_delivery[0],
        "documents": complete_documents(procedure),
    }


def codes_of(problems) -> list[str]:
    return [p.code for p in problems]


def copy_of_packaged_file(code: str, folder: Path) -> tuple[Path, dict]:
    target = folder / f"{code}.yaml"
    shutil.copy(DEFAULT_FOLDER / target.name, target)
    return target, yaml.safe_load(target.read_text(encoding="utf-8"))


def write(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


# --- loading -------------------------------------------------------------------------------


def test_the_six_scenario_procedures_load(catalogue):
    assert set(SCENARIO_CODES) <= set(catalogue.codes())
    for code in SCENARIO_CODES:
        assert catalogue.versions(code), code


def test_every_version_cites_sources_and_no_placeholder_code_claims_to_be_verified(catalogue):
    for code in catalogue.codes():
        for version in catalogue.versions(code):
            assert version.sources
            assert version.code_source.verified is False


def test_the_same_day_procedure_has_a_three_pm_cutoff(catalogue):
    limit = in_force(catalogue, "2.000635").time_limit
    assert (limit.value, limit.cutoff) == (0, time(15, 0))


def test_the_death_registration_offers_the_four_follow_on_procedures_of_its_route(catalogue):
    options = in_force(catalogue, "1.001233").option_keys
    assert options == {"residence_deletion", "funeral_allowance", "survivor_benefit", "welfare_funeral_support"}


def test_every_option_a_route_can_skip_is_one_the_catalogue_lets_the_applicant_choose(catalogue):
    for route in RouteBook.load().routes:
        procedure = catalogue.find(route.procedure_code, route.effective_from)
        assert procedure is not None, f"{route.procedure_code} {route.version} starts before the catalogue"
        assert set(route.options) <= procedure.option_keys, route.procedure_code


def test_every_route_keeps_the_time_limit_of_the_catalogue_on_every_day_both_are_in_force(catalogue):
    check_time_limits(catalogue, RouteBook.load())


def test_every_document_a_route_step_needs_is_one_the_catalogue_lists_on_every_day_both_are_in_force(catalogue):
    check_declared_documents(catalogue, RouteBook.load())


def test_a_step_needing_a_document_the_catalogue_does_not_list_is_refused_naming_it(catalogue, tmp_path):
    routes = tmp_path / "routes"
    routes.mkdir()
    target = routes / "2.000635.yaml"
    data = yaml.safe_load((ROUTES_FOLDER / target.name).read_text(encoding="utf-8"))
    data["versions"][0]["steps"][0]["needs"]["documents"].append("giay_khai_sinh_gia")
    write(target, data)

    with pytest.raises(UndeclaredDocumentError, match=r"step 'issue_copy' needs documents \['giay_khai_sinh_gia'\]"):
        check_declared_documents(catalogue, RouteBook.load(routes))


def test_every_packaged_route_needs_no_more_than_its_total_limit_along_its_critical_path():
    for route in RouteBook.load().routes:
        total = route.total_time_limit
        assert total is not None, f"{route.procedure_code} {route.version}"
        assert critical_path(route).value == total.value, f"{route.procedure_code} {route.version}"


def test_a_route_whose_total_limit_differs_from_the_catalogue_is_refused_naming_both(catalogue, tmp_path):
    routes = tmp_path / "routes"
    routes.mkdir()
    target = routes / "2.001610.yaml"
    data = yaml.safe_load((ROUTES_FOLDER / target.name).read_text(encoding="utf-8"))
    data["versions"][0]["total_time_limit"] = {"value": 4, "unit": "working_days"}
    write(target, data)

    with pytest.raises(TimeLimitsDisagreeError) as error:
        check_time_limits(catalogue, RouteBook.load(routes))

    assert str(error.value) == (
        "procedure 2.001610: route version '2025.01' (total limit 4 working days) disagrees with catalogue "
        "version '2021.01' (time limit 3 working days) from 2025-01-01 to 2025-06-30")


def test_a_route_without_a_total_is_held_to_the_catalogue_along_its_critical_path(catalogue, tmp_path):
    routes = tmp_path / "routes"
    routes.mkdir()
    target = routes / "1.004227.yaml"
    data = yaml.safe_load((ROUTES_FOLDER / target.name).read_text(encoding="utf-8"))
    for version in data["versions"]:
        del version["total_time_limit"]
    data["versions"][1]["steps"][0]["time_limit"] = {"value": 4, "unit": "working_days"}
    write(target, data)

    with pytest.raises(TimeLimitsDisagreeError, match=r"route version '2025.07' \(critical path 11 working days\) "
                                                      r"disagrees with catalogue version '2025.07' \(time limit 10"):
        check_time_limits(catalogue, RouteBook.load(routes))


def test_the_reference_data_refuses_to_load_against_a_catalogue_with_another_time_limit(tmp_path):
    path, data = copy_of_packaged_file("2.000635", tmp_path)
    data["versions"][1]["time_limit"] = {"value": 1, "unit": "working_days"}
    write(path, data)

    with pytest.raises(TimeLimitsDisagreeError, match="procedure 2.000635: route version '2025.01' "
                                                      r"\(total limit same working day, cut-off 15:00\)"):
        ReferenceData.load(Catalogue.load(tmp_path))


def test_the_birth_and_death_groups_can_be_received_before_and_after_1_july_2025(catalogue):
    for code in ("1.001193", "1.001233"):
        before, after = in_force(catalogue, code, date(2025, 6, 30)), in_force(catalogue, code, date(2025, 7, 1))
        assert (before.version, after.version) == ("2025.01", "2025.07")
        assert before.documents == after.documents and before.options == after.options


def test_the_version_in_force_on_30_june_2025_has_districts_and_on_1_july_2025_has_none(catalogue):
    for code in ("2.000635", "1.004227"):
        before = in_force(catalogue, code, date(2025, 6, 30))
        after = in_force(catalogue, code, date(2025, 7, 1))
        assert before.version != after.version
        assert "district" in before.agency_levels
        assert "district" not in after.agency_levels


def test_an_unknown_code_or_a_date_before_the_first_version_finds_nothing(catalogue):
    assert catalogue.find("9.999999", date(2025, 7, 1)) is None
    assert catalogue.versions("9.999999") == ()
    first = catalogue.versions("1.001193")[0]
    assert catalogue.find("1.001193", first.effective_from - timedelta(days=1)) is None


def test_overlapping_versions_are_rejected_naming_the_file(tmp_path):
    path, data = copy_of_packaged_file("2.000635", tmp_path)
    data["versions"][0]["effective_to"] = date(2025, 7, 1)
    write(path, data)
    with pytest.raises(CatalogueError, match="overlap") as error:
        Catalogue.load(tmp_path)
    assert error.value.source == "2.000635.yaml"


def test_an_open_ended_version_followed_by_another_is_rejected_as_an_overlap(tmp_path):
    path, data = copy_of_packaged_file("2.000635", tmp_path)
    del data["versions"][0]["effective_to"]
    write(path, data)
    with pytest.raises(CatalogueError, match="overlap"):
        Catalogue.load(tmp_path)


def test_a_gap_between_versions_is_rejected_naming_the_file(tmp_path):
    path, data = copy_of_packaged_file("1.004227", tmp_path)
    data["versions"][0]["effective_to"] = date(2025, 6, 29)
    write(path, data)
    with pytest.raises(CatalogueError, match="gap") as error:
        Catalogue.load(tmp_path)
    assert error.value.source == "1.004227.yaml"


def test_a_version_with_an_unknown_channel_is_rejected_naming_the_file(tmp_path):
    path, data = copy_of_packaged_file("2.000488", tmp_path)
    data["versions"][0]["channels"] = ["desk", "fax"]
    write(path, data)
    with pytest.raises(CatalogueError) as error:
        Catalogue.load(tmp_path)
    assert error.value.source == "2.000488.yaml" and "channels" in error.value.reason


def test_an_unquoted_cutoff_time_is_rejected_rather_than_misread(tmp_path):
    path, _ = copy_of_packaged_file("2.000635", tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace('"15:00"', "15:00"), encoding="utf-8")
    with pytest.raises(CatalogueError, match="HH:MM"):
        Catalogue.load(tmp_path)


def test_a_file_named_after_another_code_is_rejected(tmp_path):
    path, _ = copy_of_packaged_file("2.000635", tmp_path)
    path.rename(tmp_path / "2.000636.yaml")
    with pytest.raises(CatalogueError, match="does not match"):
        Catalogue.load(tmp_path)


def test_a_folder_without_procedure_files_is_rejected(tmp_path):
    with pytest.raises(CatalogueError, match="no procedure files"):
        Catalogue.load(tmp_path)


# --- checking a submission -----------------------------------------------------------------


@pytest.mark.parametrize("code", SCENARIO_CODES)
def test_a_complete_submission_for_each_scenario_procedure_has_no_problem(catalogue, code):
    for version in catalogue.versions(code):
        assert check_submission(version, **valid_submission(version)) == []


def test_a_channel_the_procedure_does_not_offer_is_reported(catalogue):
    procedure = in_force(catalogue, "2.001610")  # desk and online only
    problems = check_submission(procedure, **{**valid_submission(procedure), "channel": "post"})
    assert [(p.field, p.code) for p in problems] == [("channel", "channel_not_allowed")]
    assert "bưu chính" in problems[0].message_vi


def test_a_result_delivery_method_not_offered_is_reported(catalogue):
    procedure = in_force(catalogue, "2.000635")
    problems = check_submission(procedure, **{**valid_submission(procedure), "result_delivery_method": "drone"})
    assert [(p.field, p.code) for p in problems] == [("result_delivery_method", "result_delivery_not_allowed")]


def test_a_document_the_procedure_does_not_list_is_reported(catalogue):
    procedure = in_force(catalogue, "1.001193")
    submission = valid_submission(procedure)
    submission["documents"].append(("anh_the", "image/jpeg", 1000))
    problems = check_submission(procedure, **submission)
    assert [(p.field, p.code) for p in problems] == [(f"documents[{len(submission['documents']) - 1}].name",
                                                      "document_unknown")]


def test_a_missing_required_document_is_reported_with_its_vietnamese_name(catalogue):
    procedure = in_force(catalogue, "1.001193")
    submission = valid_submission(procedure)
    submission["documents"] = [d for d in submission["documents"] if d[0] != "giay_chung_sinh"]
    problems = check_submission(procedure, **submission)
    assert [(p.field, p.code) for p in problems] == [("documents.giay_chung_sinh", "document_missing")]
    assert "Giấy chứng sinh" in problems[0].message_vi


def test_an_optional_document_may_be_left_out_and_may_be_sent(catalogue):
    procedure = in_force(catalogue, "2.000635")
    submission = valid_submission(procedure)
    assert check_submission(procedure, **submission) == []
    submission["documents"].append(("van_ban_uy_quyen", PDF, 5000))
    assert check_submission(procedure, **submission) == []


def test_a_document_of_an_unaccepted_media_type_is_reported(catalogue):
    procedure = in_force(catalogue, "2.000488")
    submission = valid_submission(procedure)
    name, _, size = submission["documents"][0]
    submission["documents"][0] = (name, "application/zip", size)
    problems = check_submission(procedure, **submission)
    assert [(p.field, p.code) for p in problems] == [("documents[0].media_type", "document_media_type_not_accepted")]


def test_media_type_case_and_parameters_do_not_matter(catalogue):
    procedure = in_force(catalogue, "2.000488")
    submission = valid_submission(procedure)
    submission["documents"] = [
        (name, "Application/PDF; version=1.7", size) for name, _, size in submission["documents"]
    ]
    assert check_submission(procedure, **submission) == []


def test_a_document_larger_than_allowed_is_reported(catalogue):
    procedure = in_force(catalogue, "1.004227")
    submission = valid_submission(procedure)
    name, media_type, _ = submission["documents"][1]
    limit = next(d.max_size_bytes for d in procedure.documents if d.key == name)
    submission["documents"][1] = (name, media_type, limit + 1)
    problems = check_submission(procedure, **submission)
    assert [(p.field, p.code) for p in problems] == [("documents[1].size_bytes", "document_too_large")]
    assert "MB" in problems[0].message_vi


def test_an_empty_document_is_reported(catalogue):
    procedure = in_force(catalogue, "2.000635")
    submission = valid_submission(procedure)
    name, media_type, _ = submission["documents"][0]
    submission["documents"][0] = (name, media_type, 0)
    assert codes_of(check_submission(procedure, **submission)) == ["document_empty"]


def test_an_option_the_procedure_does_not_offer_is_reported(catalogue):
    procedure = in_force(catalogue, "1.001233")
    problems = check_submission(procedure, **valid_submission(procedure), options=["tax_refund"])
    assert [(p.field, p.code) for p in problems] == [("options", "option_unknown")]


def test_choosing_the_funeral_allowance_requires_its_declaration(catalogue):
    procedure = in_force(catalogue, "1.001233")
    submission = valid_submission(procedure)
    problems = check_submission(procedure, **submission, options=["residence_deletion", "funeral_allowance"])
    assert [(p.field, p.code) for p in problems] == [("documents.de_nghi_tro_cap_mai_tang", "document_missing")]
    submission["documents"].append(("de_nghi_tro_cap_mai_tang", PDF, 2000))
    assert check_submission(procedure, **submission, options=["residence_deletion", "funeral_allowance"]) == []


def test_all_problems_are_reported_together(catalogue):
    procedure = in_force(catalogue, "2.001610")
    documents = [
        ("giay_de_nghi_dang_ky_doanh_nghiep", "text/plain", 10**9),  # wrong type and too large
        ("ho_chieu_cua_cho", PDF, 100),  # unknown
    ]
    problems = check_submission(procedure, channel="post", result_delivery_method="email", documents=documents,
                                options=["express"])
    assert sorted(codes_of(problems)) == sorted([
        "channel_not_allowed", "result_delivery_not_allowed", "option_unknown",
        "document_media_type_not_accepted", "document_too_large", "document_unknown",
        "document_missing",  # giay_to_phap_ly_ca_nhan
    ])
    assert all(p.message_vi for p in problems)


# --- effective dates, as a property ---------------------------------------------------------

dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))


@given(on=dates, code=st.sampled_from(SCENARIO_CODES))
def test_find_never_returns_a_version_whose_period_excludes_the_date(catalogue, on, code):
    found = catalogue.find(code, on)
    assert found is None or found.effective_from <= on <= (found.effective_to or date.max)


@given(
    start=dates,
    lengths=st.lists(st.integers(min_value=1, max_value=800), min_size=1, max_size=6),
    on=dates,
)
def test_find_on_tiled_versions_returns_the_version_covering_the_date(catalogue, start, lengths, on):
    base = catalogue.versions("2.000635")[-1]
    versions, begin = [], start
    for index, length in enumerate(lengths):
        last = index == len(lengths) - 1
        end = None if last else begin + timedelta(days=length - 1)
        versions.append(base.model_copy(update={"version": str(index), "effective_from": begin, "effective_to": end}))
        if end is not None:
            begin = end + timedelta(days=1)
    found = Catalogue(versions).find(base.code, on)
    if on < start:
        assert found is None
    else:
        assert found is not None and found.effective_from <= on <= (found.effective_to or date.max)

