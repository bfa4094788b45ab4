"""The use cases' words in English and Simplified Chinese (issue 28): a problem document's `title`
and `detail` and an account check's items in the caller's language (`Accept-Language`), codes
the same in both; a notification written in its recipient account's language when it is written,
and staying so; webhook payloads the same in every language."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from typing import get_args

import pytest

from api.problems import STATUS_OF_CODE, STATUS_OF_EDGE_CODE, TITLES
from application import webhooks as webhook_use_cases
from assocflow import i18n
from domain import kinds, messages
from domain.text import Text
from domain.types import (
    AccountStanding,
    AssociationType,
    DecisionAction,
    RequestKind,
    RequestStatus,
    Side,
)
from store import notifications
from store.rows import AccountLanguage
from tests.api.test_disassociations import assert_problem, decide, submit
from tests.factories import bearer
from webhooks import urls

pytestmark = pytest.mark.devserver

CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
HAN = re.compile(r"[\u4e00-\u9fff]")


# --- problem documents -----------------------------------------------------------------------


async def test_a_problem_is_in_chinese_for_a_chinese_browser_and_its_code_is_the_same(api, factory):
    world = await factory.world()
    missing = f"/v1/associations/{uuid.uuid4()}"
    chinese = await api.get(missing, headers=bearer(world.customer) | CHINESE)
    problem = assert_problem(chinese, 404, "not_found")
    assert problem["title"] == "未找到"
    assert problem["detail"] == "找不到你可以查看的具有此 ID 的关联。"
    assert problem["type"] == "urn:assocflow:problem:not_found"
    assert chinese.headers["content-language"] == "zh-Hans"
    assert "accept-language" in chinese.headers["vary"].lower()

    english = await api.get(missing, headers=bearer(world.customer))
    problem = assert_problem(english, 404, "not_found")
    assert problem["title"] == "Not Found"
    assert problem["detail"] == "No association with this id is visible to you."
    assert english.headers["content-language"] == "en"


async def test_the_edges_answer_in_the_callers_language_too(api):
    """Problems made before any use case runs: no token (api/deps.py), a NUL in the query
    (api/bodylimit.py), an unknown route (the framework's own)."""
    no_token = assert_problem(
        await api.get("/v1/associations", headers=CHINESE), 401, "unauthorized"
    )
    assert no_token["title"] == "未授权"
    assert no_token["detail"] == "请发送令牌：`Authorization: Bearer <token>`。"
    nul = assert_problem(
        await api.get("/v1/associations?x=%00", headers=CHINESE), 422, "validation_error"
    )
    assert (nul["title"], nul["detail"]) == ("无法处理的内容", "查询字符串不得包含 NUL 字符。")
    unknown = assert_problem(await api.get("/v1/nowhere", headers=CHINESE), 404, "not_found")
    assert (unknown["title"], unknown["detail"]) == ("未找到", "未找到")
    traditional = await api.get("/v1/associations", headers={"Accept-Language": "zh-TW"})
    assert traditional.json()["title"] == "Unauthorized"  # Traditional Chinese is not ours
    assert traditional.headers["content-language"] == "en"


async def test_a_refused_decision_is_in_chinese_with_its_words_inside(api, factory):
    world = await factory.world()
    request = (await submit(api, world.customer, world.association_id)).json()
    refused = await api.post(
        f"/v1/disassociations/{request['id']}/agree",
        headers=bearer(world.customer) | CHINESE,
    )
    problem = assert_problem(refused, 403, "forbidden")
    assert problem["detail"] == "只有对方（合作伙伴）可以同意此请求。"
    english = await api.post(
        f"/v1/disassociations/{request['id']}/agree", headers=bearer(world.customer)
    )
    assert english.json()["detail"] == "Only the counterpart (partner) may agree this request."


# --- the account check -----------------------------------------------------------------------


async def test_the_check_items_are_in_the_callers_language(api, factory):
    world = await factory.world(standing=AccountStanding(frozen=True, unused_vouchers=2))
    body = {"association_id": str(world.association_id)}
    chinese = await api.post(
        "/v1/disassociation-checks", json=body, headers=bearer(world.partner_admin) | CHINESE
    )
    assert chinese.status_code == 200, chinese.text
    assert chinese.headers["content-language"] == "zh-Hans"
    items = {item["code"]: item for item in chinese.json()["items"]}
    assert items["customer_not_frozen"] == {
        "code": "customer_not_frozen",
        "passed": False,
        "message": "客户账户已冻结；必须先将其解冻。",
    }
    assert items["no_unused_vouchers"]["message"] == "有 2 张代金券未使用；请使用或收回。"
    assert items["association_active"]["message"] == "该关联处于活动状态。"
    assert all(HAN.search(item["message"]) for item in items.values())

    english = await api.post(
        "/v1/disassociation-checks", json=body, headers=bearer(world.partner_admin)
    )
    english_items = {item["code"]: item for item in english.json()["items"]}
    assert english_items["customer_not_frozen"]["message"] == (
        "The customer account is frozen; it must be unfrozen first."
    )
    assert set(english_items) == set(items)
    assert english.headers["content-language"] == "en"


async def test_a_refused_submit_lists_its_failed_items_in_chinese(api, factory):
    world = await factory.world(standing=AccountStanding(frozen=True))
    body = {"association_id": str(world.association_id), "reason": "Moving", "acknowledged": True}
    refused = await api.post(
        "/v1/disassociations", json=body, headers=bearer(world.customer) | CHINESE
    )
    problem = assert_problem(refused, 422, "check_failed")
    assert problem["title"] == "无法处理的内容"
    assert problem["detail"] == "账户检查未通过；请修复未通过的项目，然后重试。"
    failed = {item["code"]: item["message"] for item in problem["items"] if not item["passed"]}
    assert failed == {"customer_not_frozen": "客户账户已冻结；必须先将其解冻。"}


# --- the message center ----------------------------------------------------------------------


async def _set_language(api, token: str, language: str) -> None:
    changed = await api.patch("/v1/settings", json={"language": language}, headers=bearer(token))
    assert changed.status_code == 200, changed.text
    assert changed.json()["language"] == language


async def _summaries(api, token: str) -> dict[str, str]:
    items = (await api.get("/v1/notifications", headers=bearer(token))).json()["items"]
    return {item["event_type"]: item["summary"] for item in items}


async def test_the_account_language_is_a_setting_of_its_admins(api, factory):
    world = await factory.world()
    read = await api.get("/v1/settings", headers=bearer(world.partner_admin))
    assert read.json()["language"] == "en"
    await _set_language(api, world.partner_admin, "zh-Hans")
    assert (await api.get("/v1/settings", headers=bearer(world.partner_admin))).json()[
        "language"
    ] == "zh-Hans"
    assert_problem(
        await api.patch(
            "/v1/settings", json={"language": "fr"}, headers=bearer(world.partner_admin)
        ),
        422,
        "validation_error",
    )
    assert_problem(
        await api.patch(
            "/v1/settings", json={"language": "en"}, headers=bearer(world.partner_reader)
        ),
        403,
        "forbidden",
    )
    [audit] = await factory.fetch(
        "SELECT before, after FROM audit_log WHERE action = 'settings.updated' AND target_id = %s",
        str(world.partner_id),
    )
    assert (audit["before"]["language"], audit["after"]["language"]) == ("en", "zh-Hans")


async def test_a_notification_is_written_in_its_recipients_language(api, factory):
    world = await factory.world()
    await _set_language(api, world.partner_admin, "zh-Hans")  # the partner reads Chinese
    request = (await submit(api, world.customer, world.association_id)).json()
    agreed = await decide(api, world.partner_admin, request["id"], "agree", reason="OK")
    assert agreed.status_code == 200, agreed.text

    ask = messages.Ask(RequestKind.DISASSOCIATION)
    partner, customer = world.partner_name, world.customer_name
    respond_by = datetime.fromisoformat(request["respond_by"])
    to_partner = await _summaries(api, world.partner_admin)
    assert to_partner == {
        "disassociation.requested": messages.requested(
            ask, Side.CUSTOMER, partner, customer, respond_by
        ).to("zh-Hans"),
        "disassociation.agreed": f"请求“结束 {partner} 与 {customer} 之间的关联”已获同意。",
        "association.ended": f"{partner} 与 {customer} 之间的关联已结束。",
    }
    to_customer = await _summaries(api, world.customer)
    assert to_customer == {
        "disassociation.agreed": f"The request to end the association between {partner} and"
        f" {customer} was agreed.",
        "association.ended": f"The association between {partner} and {customer} has ended.",
    }

    # The webhook payload is codes and data: the same whatever language the account reads.
    payloads = await factory.fetch(
        "SELECT recipient_kind, payload FROM notifications"
        " WHERE request_id = %s AND event_type = 'disassociation.agreed'",
        request["id"],
    )
    by_side = {row["recipient_kind"]: row["payload"] for row in payloads}
    assert by_side["partner"] == by_side["customer"]
    assert not HAN.search(json.dumps(by_side["partner"], ensure_ascii=False))


async def test_a_message_keeps_the_language_it_was_written_in(api, factory, pool):
    world = await factory.world()
    await _set_language(api, world.partner_admin, "zh-Hans")
    summary = messages.association_ended("Fabrikam", "Contoso")

    async def tell(event_type: str) -> None:
        async with pool.connection() as conn:
            await notifications.notify(
                conn,
                recipients=[("partner", world.partner_id, f"test:{uuid.uuid4()}")],
                event_type=event_type,
                summary=summary,
                data={"association": "a"},
                created_at=datetime.now(UTC),
            )

    await tell("association.ended")
    await _set_language(api, world.partner_admin, "en")
    await tell("association.type_changed")
    assert await _summaries(api, world.partner_admin) == {
        "association.ended": "Fabrikam 与 Contoso 之间的关联已结束。",  # as it was written
        "association.type_changed": "The association between Fabrikam and Contoso has ended.",
    }
    # Words that are not a Text read the same in every language.
    async with pool.connection() as conn:
        await notifications.notify(
            conn,
            recipients=[("customer", uuid.uuid4(), f"test:{uuid.uuid4()}")],  # no such account
            event_type="association.ended",
            summary="plain words",
            data={},
            created_at=datetime.now(UTC),
        )


# --- the words inside sentences, and the catalogue -------------------------------------------


def test_each_word_inside_a_sentence_reads_as_the_value_it_stands_for():
    assert {s: str(t) for s, t in messages.STATUS_WORDS.items()} == {
        s: f"{s}" for s in RequestStatus
    }
    assert {a: str(t) for a, t in messages.ACTION_WORDS.items()} == {
        a: a.value for a in DecisionAction
    }
    assert {s: str(t) for s, t in messages.SIDE_WORDS.items()} == {s: s.value for s in Side}
    assert {t: str(w) for t, w in messages.TYPE_WORDS.items()} == {
        t: t.value.replace("_", " ") for t in AssociationType
    }
    assert {k: str(n) for k, n in messages.NOUNS.items()} == {
        k: kinds.of(k).noun for k in RequestKind
    }
    assert all(
        webhook_use_cases._url_refused(words) == words and isinstance(
            webhook_use_cases._url_refused(words), Text
        )
        for words in (
            urls.NOT_PUBLIC, urls.COULD_NOT_CONNECT, urls.DOES_NOT_RESOLVE, urls.NOT_HTTP,
            urls.CREDENTIALS, urls.INVALID_HOST, urls.NON_CANONICAL,
        )
    )  # fmt: skip


def test_every_title_the_api_answers_with_is_translated():
    statuses = {*STATUS_OF_CODE.values(), *STATUS_OF_EDGE_CODE.values(), 400, 404, 405, 500}
    for status in statuses:
        phrase = HTTPStatus(status).phrase
        assert phrase in TITLES, phrase
        assert HAN.search(i18n.gettext(i18n.CHINESE, phrase)), phrase


def test_an_account_has_one_of_the_languages_assocflow_has():
    assert set(get_args(AccountLanguage)) == set(i18n.LANGUAGES)


def test_a_nested_text_renders_in_the_same_language():
    text = messages.only_the_party(DecisionAction.DECLINE)
    assert text == "Only the new partner may decline this request."
    assert text.to(i18n.CHINESE) == "只有新合作伙伴可以婉拒此请求。"
    assert text.to(i18n.ENGLISH) == text
