"""Procedure routes: rule-set versions by day of receipt, the step DAG, options, and planning."""

from __future__ import annotations

import shutil
from datetime import date, time
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from routing.geography import Geography, NoAgencyForRoleError
from routing.routes import (
    DEFAULT_PATH,
    NoRouteError,
    RouteBook,
    RouteDataError,
    RouteError,
    UnknownStepError,
    plan,
)

SIX_PROCEDURES = ("1.001193", "1.001233", "1.004227", "2.001610", "2.000488", "2.000635")
LAST_DAY_OF_DISTRICTS = date(2025, 6, 30)
FIRST_DAY_OF_TWO_LEVELS = date(2025, 7, 1)
TRUONG_THI, TRUONG_VINH = "16690", "16690"  # one code, two wards: before and after the merger
BEN_THUY = "16693"  # merged into Trường Vinh


@pytest.fixture(scope="module")
def geography() -> Geography:
    return Geography.load()


@pytest.fixture(scope="module")
def book(geography) -> RouteBook:
    return RouteBook.load(geography=geography)


def keys(steps) -> list[str]:
    return [step.key for step in steps]


def copy_of_packaged_routes(tmp_path: Path) -> Path:
    target = tmp_path / "routes"
    shutil.copytree(DEFAULT_PATH, target)
    return target


def edit_first_version(folder: Path, code: str, change) -> None:
    path = folder / f"{code}.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document["versions"][0])
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_the_book_holds_the_six_procedures(book):
    assert book.procedure_codes() == sorted(SIX_PROCEDURES)


def test_a_land_transfer_received_on_30_june_2025_gets_the_three_level_route_with_district_agencies(book, geography):
    route = book.route("1.004227", LAST_DAY_OF_DISTRICTS)
    planned = plan(route, geography, TRUONG_THI, LAST_DAY_OF_DISTRICTS)

    assert route.version == "2025.01"
    assert [(p.step.key, p.agency.level, p.agency.serves) for p in planned] == [
        ("receive_and_check", "district", ("412",)),
        ("tax_assessment", "district", ("412",)),
        ("tax_payment", "district", ("412",)),
        ("update_certificate", "district", ("412",)),
    ]
    assert planned[0].agency.name == "Chi nhánh Văn phòng Đăng ký đất đai thành phố Vinh"
    assert planned[1].agency.name == "Chi cục Thuế thành phố Vinh"


def test_a_land_transfer_received_on_1_july_2025_gets_the_two_level_route(book, geography):
    route = book.route("1.004227", FIRST_DAY_OF_TWO_LEVELS)
    planned = plan(route, geography, TRUONG_VINH, FIRST_DAY_OF_TWO_LEVELS)

    assert route.version == "2025.07"
    assert {p.agency.level for p in planned} == {"commune"}
    assert all(TRUONG_VINH in p.agency.serves for p in planned)
    assert planned[1].agency.name == "Thuế cơ sở 1 tỉnh Nghệ An"


def test_a_birth_received_on_30_june_2025_goes_to_the_district_social_insurance(book, geography):
    planned = plan(book.route("1.001193", LAST_DAY_OF_DISTRICTS), geography, "17893", LAST_DAY_OF_DISTRICTS)
    assert {p.step.key: p.agency.name for p in planned} == {
        "birth_registration": "Ủy ban nhân dân xã Nghi Trung",
        "residence_registration": "Công an xã Nghi Trung",
        "health_insurance_card": "Bảo hiểm xã hội huyện Nghi Lộc",
    }


def test_a_dossier_with_an_old_locality_code_received_after_the_merger_is_planned_at_the_successor(book, geography):
    planned = plan(book.route("1.001193", FIRST_DAY_OF_TWO_LEVELS), geography, BEN_THUY, FIRST_DAY_OF_TWO_LEVELS)
    assert planned[0].agency.name == "Ủy ban nhân dân phường Trường Vinh"


@pytest.mark.parametrize("code", SIX_PROCEDURES)
@pytest.mark.parametrize("day", [LAST_DAY_OF_DISTRICTS, FIRST_DAY_OF_TWO_LEVELS])
def test_every_procedure_resolves_for_every_sample_commune_in_both_periods(book, geography, code, day):
    route = book.route(code, day)
    for commune in geography.communes(day):
        planned = plan(route, geography, commune.code, day)
        assert [p.step for p in planned] == list(route.steps)
        assert all(p.agency.in_force(day) for p in planned)


def test_a_dossier_finds_its_kept_version_again(book):
    route = book.route("1.001233", LAST_DAY_OF_DISTRICTS)
    assert book.version("1.001233", route.version) is route
    with pytest.raises(NoRouteError, match=r"no route version '1999\.01'"):
        book.version("1.001233", "1999.01")


def test_no_route_is_in_force_before_the_data_begins(book):
    with pytest.raises(NoRouteError, match=r"1\.001193"):
        book.route("1.001193", date(2024, 12, 31))


def test_planning_refuses_a_day_outside_the_versions_period(book, geography):
    route = book.route("1.004227", LAST_DAY_OF_DISTRICTS)
    with pytest.raises(RouteError, match="not in force on 2025-07-01"):
        plan(route, geography, TRUONG_VINH, FIRST_DAY_OF_TWO_LEVELS)


def test_planning_with_an_old_route_on_a_new_day_would_need_districts_that_no_longer_exist(book, geography):
    three_level = book.route("1.004227", LAST_DAY_OF_DISTRICTS)
    step = three_level.step("receive_and_check")
    with pytest.raises(NoAgencyForRoleError, match="no district above"):
        geography.resolve(step.role, TRUONG_VINH, step.lookup, FIRST_DAY_OF_TWO_LEVELS)


def test_the_judicial_record_certificate_passes_from_the_justice_department_to_the_police_on_1_march_2025(
    book, geography
):
    before = plan(book.route("2.000488", date(2025, 2, 28)), geography, TRUONG_THI, date(2025, 2, 28))
    after = plan(book.route("2.000488", date(2025, 3, 1)), geography, TRUONG_THI, date(2025, 3, 1))
    assert [p.step.role for p in before] == ["province_justice", "police_records", "province_justice"]
    assert {p.step.role for p in after} == {"police_records"}


def test_birth_registration_is_the_only_initial_step(book):
    route = book.route("1.001193", FIRST_DAY_OF_TWO_LEVELS)
    assert keys(route.initial_steps()) == ["birth_registration"]


def test_residence_and_health_insurance_become_ready_together_after_birth_registration(book):
    route = book.route("1.001193", FIRST_DAY_OF_TWO_LEVELS)
    assert keys(route.next_steps({"birth_registration"})) == ["residence_registration", "health_insurance_card"]


def test_a_started_branch_is_not_offered_again_while_its_sibling_still_is(book):
    route = book.route("1.001193", FIRST_DAY_OF_TWO_LEVELS)
    ready = route.next_steps({"birth_registration"}, started={"residence_registration"})
    assert keys(ready) == ["health_insurance_card"]


def test_the_birth_route_is_complete_only_when_both_branches_are_done(book):
    route = book.route("1.001193", FIRST_DAY_OF_TWO_LEVELS)
    assert not route.is_complete({"birth_registration", "residence_registration"})
    assert route.is_complete({"birth_registration", "residence_registration", "health_insurance_card"})
    assert route.next_steps({"birth_registration", "residence_registration", "health_insurance_card"}) == []


def test_death_follow_ons_the_citizen_did_not_choose_are_skipped(book):
    route = book.route("1.001233", FIRST_DAY_OF_TWO_LEVELS)
    options = {"residence_deletion", "funeral_allowance"}
    assert keys(route.active_steps(options)) == ["death_registration", "residence_deletion", "funeral_allowance"]
    assert keys(route.next_steps({"death_registration"}, options)) == ["residence_deletion"]
    assert keys(route.next_steps({"death_registration", "residence_deletion"}, options)) == ["funeral_allowance"]


def test_a_step_waiting_on_a_skipped_step_waits_on_that_steps_own_dependencies(book):
    route = book.route("1.001233", FIRST_DAY_OF_TWO_LEVELS)
    options = {"funeral_allowance", "survivor_benefit"}  # residence deletion not chosen
    assert keys(route.initial_steps(options)) == ["death_registration"]
    assert keys(route.next_steps({"death_registration"}, options)) == ["funeral_allowance", "survivor_benefit"]


def test_with_no_follow_on_chosen_the_death_route_ends_after_registration(book):
    route = book.route("1.001233", FIRST_DAY_OF_TWO_LEVELS)
    assert not route.is_complete(set())
    assert route.is_complete({"death_registration"})


def test_an_option_the_route_does_not_declare_is_refused(book):
    route = book.route("1.001233", FIRST_DAY_OF_TWO_LEVELS)
    with pytest.raises(UnknownStepError, match="no options \\['lottery'\\]"):
        route.next_steps(set(), {"lottery"})


def test_a_completed_step_the_route_does_not_have_is_refused(book):
    route = book.route("1.001193", FIRST_DAY_OF_TWO_LEVELS)
    with pytest.raises(UnknownStepError, match="no steps \\['marriage'\\]"):
        route.next_steps({"marriage"})


def test_planning_only_the_chosen_options(book, geography):
    route = book.route("1.001233", LAST_DAY_OF_DISTRICTS)
    planned = plan(route, geography, TRUONG_THI, LAST_DAY_OF_DISTRICTS, options={"funeral_allowance"})
    assert [p.step.key for p in planned] == ["death_registration", "funeral_allowance"]
    assert planned[1].agency.name == "Bảo hiểm xã hội thành phố Vinh"


def test_the_land_transfer_pauses_for_payment_only_at_the_tax_payment_step(book):
    route = book.route("1.004227", FIRST_DAY_OF_TWO_LEVELS)
    assert [s.key for s in route.steps if s.may_request_payment] == ["tax_payment"]
    assert sum(s.time_limit.value for s in route.steps) == route.total_time_limit.value == 10


def test_the_certified_copy_is_same_day_with_a_three_pm_cutoff(book):
    route = book.route("2.000635", FIRST_DAY_OF_TWO_LEVELS)
    (step,) = route.steps
    assert (step.time_limit.unit, step.time_limit.cutoff) == ("same_day", time(15, 0))
    assert not route.code_placeholder


def test_every_other_procedure_code_is_marked_as_a_placeholder(book):
    placeholders = {r.procedure_code for r in book.routes if r.code_placeholder}
    assert placeholders == set(SIX_PROCEDURES) - {"2.000635"}


@given(data=st.data())
def test_walking_any_route_with_any_options_in_any_order_reaches_completion(book, data):
    route = data.draw(st.sampled_from(book.routes))
    options = data.draw(st.sets(st.sampled_from(route.options))) if route.options else set()
    active = set(keys(route.active_steps(options)))
    completed: set[str] = set()
    while not route.is_complete(completed, options):
        ready = route.next_steps(completed, options)
        assert ready, f"stuck with {completed}"
        step = data.draw(st.sampled_from(ready))
        assert step.key in active
        assert all(d in completed or d not in active for d in step.after)
        completed.add(step.key)
    assert completed == active


# Bad data is refused at load, naming the file and the reason.


def test_a_cycle_is_refused(tmp_path, geography):
    folder = copy_of_packaged_routes(tmp_path)
    edit_first_version(folder, "1.004227", lambda v: v["steps"][0].update(after=["update_certificate"]))
    with pytest.raises(RouteDataError, match=r"1.004227.yaml: version '2025.01': .*steps form a cycle"):
        RouteBook.load(folder, geography)


def test_an_unknown_dependency_is_refused(tmp_path, geography):
    folder = copy_of_packaged_routes(tmp_path)
    edit_first_version(folder, "1.001193", lambda v: v["steps"][1].update(after=["baptism"]))
    with pytest.raises(RouteDataError, match="waits for unknown steps \\['baptism'\\]"):
        RouteBook.load(folder, geography)


def test_a_step_needing_the_result_of_a_step_it_does_not_wait_for_is_refused(tmp_path, geography):
    folder = copy_of_packaged_routes(tmp_path)
    edit_first_version(folder, "1.001193", lambda v: v["steps"][2]["needs"].update(
        results=["birth_registration", "residence_registration"]))
    with pytest.raises(RouteDataError, match=r"step 'health_insurance_card' needs the results of "
                                             r"\['residence_registration'\], which it does not wait for"):
        RouteBook.load(folder, geography)


def test_a_step_without_a_need_to_know_declaration_or_with_an_unknown_applicant_field_is_refused(
        tmp_path, geography):
    folder = copy_of_packaged_routes(tmp_path)
    edit_first_version(folder, "2.000635", lambda v: v["steps"][0].pop("needs"))
    with pytest.raises(RouteDataError, match=r"2.000635.yaml: version '2025.01'.*needs"):
        RouteBook.load(folder, geography)
    folder = copy_of_packaged_routes(tmp_path / "again")
    edit_first_version(folder, "2.000635", lambda v: v["steps"][0]["needs"].update(applicant=["religion"]))
    with pytest.raises(RouteDataError, match=r"needs.applicant.0: Input should be .kind., .full_name."):
        RouteBook.load(folder, geography)


def test_every_step_of_the_packaged_routes_declares_what_it_needs_and_the_police_see_no_email(book):
    birth = book.route("1.001193", date(2025, 7, 7))
    assert birth.step("residence_registration").needs.model_dump() == {
        "applicant": ("full_name", "identity_number", "address"),
        "documents": ("to_khai_khai_sinh", "van_ban_dong_y_thuong_tru"), "results": ("birth_registration",)}


def test_an_unknown_role_is_refused(tmp_path, geography):
    folder = copy_of_packaged_routes(tmp_path)
    edit_first_version(folder, "2.000635", lambda v: v["steps"][0].update(role="astrology"))
    with pytest.raises(RouteDataError, match=r"2.000635.yaml: version '2025.01', step 'issue_copy': no agency plays"):
        RouteBook.load(folder, geography)


def test_a_role_not_served_for_part_of_the_versions_period_is_refused(tmp_path, geography):
    folder = copy_of_packaged_routes(tmp_path)
    # The district lookup works until 30 June 2025; stretching the version past it must fail.
    edit_first_version(folder, "1.004227", lambda v: v.update(effective_to=None))
    path = folder / "1.004227.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["versions"] = document["versions"][:1]
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RouteDataError, match=r"step 'receive_and_check': .* no district above it on 2025-07-01"):
        RouteBook.load(folder, geography)


def test_overlapping_version_periods_are_refused(tmp_path, geography):
    folder = copy_of_packaged_routes(tmp_path)
    edit_first_version(folder, "1.001193", lambda v: v.update(effective_to=date(2025, 7, 1)))
    with pytest.raises(RouteDataError, match=r"versions '2025\.01' and '2025\.07' have overlapping effective periods"):
        RouteBook.load(folder, geography)


def test_an_undeclared_option_is_refused(tmp_path, geography):
    folder = copy_of_packaged_routes(tmp_path)
    edit_first_version(folder, "1.001193", lambda v: v["steps"][2].update(option="health_insurance"))
    with pytest.raises(RouteDataError, match="uses option 'health_insurance', not declared"):
        RouteBook.load(folder, geography)


def test_a_duplicate_step_key_is_refused(tmp_path, geography):
    folder = copy_of_packaged_routes(tmp_path)
    edit_first_version(folder, "1.001193", lambda v: v["steps"][2].update(key="residence_registration"))
    with pytest.raises(RouteDataError, match="duplicate step keys \\['residence_registration'\\]"):
        RouteBook.load(folder, geography)


def test_an_unquoted_cutoff_is_refused(tmp_path, geography):
    folder = copy_of_packaged_routes(tmp_path)
    path = folder / "2.000635.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace('cutoff: "15:00"', "cutoff: 15:00"), encoding="utf-8")
    with pytest.raises(RouteDataError, match='expected a quoted time "HH:MM", got 900'):
        RouteBook.load(folder, geography)


def test_a_procedure_defined_in_two_files_is_refused(tmp_path, geography):
    folder = copy_of_packaged_routes(tmp_path)
    shutil.copy(folder / "2.000635.yaml", folder / "2.000635-copy.yaml")
    with pytest.raises(RouteDataError, match="already defined in another file"):
        RouteBook.load(folder, geography)
