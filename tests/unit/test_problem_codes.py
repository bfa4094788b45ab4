"""Every problem code is one of `ProblemCode`'s: the statuses they are answered with, the OpenAPI
table that documents them, and the domain's refusals all name codes the enum defines."""

from __future__ import annotations

from api import openapi
from api.problems import STATUS_OF_CODE, STATUS_OF_EDGE_CODE, status_of
from domain.decisions import Refusal
from domain.problems import ProblemCode

# Codes no HTTP response carries: the CLI's (`assocflow secrets rotate`) and the fallback for a
# framework error with no code of its own.
NOT_ANSWERED_BY_A_USE_CASE = {
    ProblemCode.ENCRYPTION_KEY_INVALID,
    ProblemCode.ENCRYPTION_KEY_MISSING,
    ProblemCode.SECRETS_UNREADABLE,
}


def test_every_code_a_response_carries_has_one_status():
    assert not set(STATUS_OF_CODE) & set(STATUS_OF_EDGE_CODE)
    for code in set(STATUS_OF_CODE) | set(STATUS_OF_EDGE_CODE):
        assert isinstance(code, ProblemCode)
    use_case_codes = set(STATUS_OF_CODE) | NOT_ANSWERED_BY_A_USE_CASE
    assert {ProblemCode.NOT_PENDING, ProblemCode.CHECK_FAILED} <= use_case_codes


def test_the_documented_codes_are_codes():
    for code in openapi.PROBLEMS:
        assert status_of(code) >= 400, code
    for operation in openapi.OPERATIONS.values():
        for code in operation.errors:
            ProblemCode(code)  # raises for a code the enum does not define


def test_the_domains_refusals_are_problem_codes():
    for refusal in Refusal:
        assert ProblemCode(refusal.value) in STATUS_OF_CODE
