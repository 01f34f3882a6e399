"""Intake's error table: what each use-case error becomes over HTTP (problem+json)."""

from __future__ import annotations

import pytest

from intake.api import INTAKE_ERRORS
from intake.application import (
    DossierNotFoundError,
    IdempotencyKeyReusedError,
    NotEntitledError,
    SubmissionRejectedError,
)
from intake.catalogue import SubmissionProblem
from intake.domain import DossierStateError
from services.documents.uploads import DossierTooLargeError
from services.eventstore import ConcurrentChangeError
from services.problems import CHASSIS_ERRORS, Problem
from tests.random_refs import random_suffix


def test_the_table_starts_from_the_chassis_errors() -> None:
    assert set(CHASSIS_ERRORS) <= set(INTAKE_ERRORS)
    assert set(INTAKE_ERRORS) == {SubmissionRejectedError, NotEntitledError, DossierNotFoundError,
                                  IdempotencyKeyReusedError, DossierStateError, ConcurrentChangeError,
                                  DossierTooLargeError}


def test_a_rejected_submission_is_a_422_listing_every_problem() -> None:
    problems = [SubmissionProblem(field="channel", code="channel_not_allowed", message_vi="Không nhận qua bưu chính"),
                SubmissionProblem(field="documents.to_khai", code="document_missing", message_vi="Thiếu tờ khai")]

    problem = INTAKE_ERRORS.problem(SubmissionRejectedError(problems))

    assert (problem.status, problem.slug, problem.detail) == (422, "validation-failed", "2 lỗi trong hồ sơ")
    assert [(e.name, e.code, e.reason) for e in problem.errors or []] == [
        ("channel", "channel_not_allowed", "Không nhận qua bưu chính"),
        ("documents.to_khai", "document_missing", "Thiếu tờ khai")]


def test_a_caller_not_entitled_is_a_403_that_does_not_repeat_the_reason() -> None:
    problem = INTAKE_ERRORS.problem(NotEntitledError("a desk submits dossiers only for its own agency"))

    assert (problem.status, problem.slug) == (403, "forbidden")
    assert problem.detail == "Bên gọi không được thực hiện thao tác này với hồ sơ hoặc thay mặt cơ quan khác"


def test_an_unknown_dossier_is_a_404_naming_the_code() -> None:
    code = f"000.00.01.H40-251128-{random_suffix()}"

    problem = INTAKE_ERRORS.problem(DossierNotFoundError(code))

    assert (problem.status, problem.slug, problem.detail) == (404, "dossier-not-found", f"Không có hồ sơ mã {code}")


def test_a_reused_idempotency_key_is_a_422() -> None:
    problem = INTAKE_ERRORS.problem(IdempotencyKeyReusedError(random_suffix()))

    assert (problem.status, problem.slug) == (422, "idempotency-key-reused")
    assert problem.detail == "Khóa này đã được dùng cho một hồ sơ có nội dung khác"


def test_a_status_that_does_not_allow_the_action_is_a_409_with_the_domain_reason() -> None:
    reason = "chỉ tiếp nhận được hồ sơ ở trạng thái 1 (Mới); hiện là 2"

    problem = INTAKE_ERRORS.problem(DossierStateError(reason))

    assert (problem.status, problem.slug, problem.detail) == (409, "dossier-state-conflict", reason)


def test_a_change_that_kept_losing_the_version_race_is_the_chassis_409() -> None:
    problem = INTAKE_ERRORS.problem(ConcurrentChangeError("lost five times"))

    assert (problem.status, problem.slug) == (409, "concurrent-change")


def test_inside_translating_a_listed_error_becomes_its_problem_and_any_other_goes_on() -> None:
    with pytest.raises(Problem) as raised, INTAKE_ERRORS.translating():
        raise DossierNotFoundError("X")
    assert raised.value.status == 404

    with pytest.raises(KeyError), INTAKE_ERRORS.translating():
        raise KeyError("not a use-case error")
