"""Issue 13 section 1: the API's own errors are message codes too. Every 4xx/5xx a person can meet (403, 404, 409,
422 with the field, 401, 413, 429, 503, the company sign-in's refusal page) carries a catalog code and its
parameters and reads in the reader's language (zh-CN by default, `Accept-Language`, `?lang=` winning)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from domain.messages import CATALOG
from tests.test_api import api, auth, body
from tests.test_words import latin_words

ROOT = Path(__file__).resolve().parent.parent
CODE = re.compile(r"^(error|invalid|oidc|refused)\.[a-z0-9_.]+$")
# calls that take a code, and where it is: (position, prefix)
CODE_ARGS = {"Problem": (1, ""), "Invalid": (1, ""), "CodedError": (0, ""), "InvalidPhone": (0, ""),
             "PolicyConflict": (0, ""), "ActionRefused": (2, ""), "UploadError": (2, "invalid.upload."),
             "Refused": (1, "oidc."), "ReferralRefused": (0, "error.")}


def _sources(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))


def _name(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _calls(paths: list[Path]):
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                yield path, node


def text_faults(paths: list[Path]) -> list[str]:
    """Errors written as finished sentences instead of codes: an HTTPException with a detail, a ValueError or a
    RequestValidationError item with a text and no code, an ActionRefused without its code."""
    faults = []
    for path, call in _calls(paths):
        where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{call.lineno}"
        name = _name(call)
        if name == "HTTPException" and (len(call.args) > 1 or any(k.arg == "detail" for k in call.keywords)):
            faults.append(f"{where}: HTTPException with a text (raise api.errors.Problem or Invalid)")
        elif name == "ValueError" and call.args and isinstance(call.args[0], ast.Constant | ast.JoinedStr):
            faults.append(f"{where}: ValueError with a text (raise domain.messages.CodedError)")
        elif name == "RequestValidationError" and call.args and isinstance(call.args[0], ast.List):
            for item in call.args[0].elts:
                keys = {k.value for k in getattr(item, "keys", []) if isinstance(k, ast.Constant)}
                if isinstance(item, ast.Dict) and "code" not in keys:
                    faults.append(f"{where}: a validation error without its code")
        elif name == "ActionRefused" and len(call.args) < 3 and not any(k.arg == "code" for k in call.keywords):
            faults.append(f"{where}: ActionRefused without its code")
    return faults


def codes_used(paths: list[Path]) -> set[str]:
    """Every code the sources name: literals that look like one, and the codes passed to the calls above."""
    found: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.match(node.value) \
                    and not node.value.endswith("."):  # a prefix, as in f"error.http.{status}"
                found.add(node.value)
            if isinstance(node, ast.Call) and any(k.arg == "code" for k in node.keywords):
                continue  # the code is the keyword's literal, found above (the lifecycle's Refused(text, kind, code=))
            if isinstance(node, ast.Call) and (spec := CODE_ARGS.get(_name(node))):
                position, prefix = spec
                arg = node.args[position] if len(node.args) > position else None
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value:
                    found.add(arg.value if CODE.match(arg.value) else prefix + arg.value)
    return found


def test_no_error_is_written_as_a_sentence_in_the_api():
    assert text_faults(_sources("api")) == []


def test_the_check_finds_a_sentence_where_a_code_belongs(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('raise HTTPException(404, "lead not found")\nraise ValueError("must be positive")\n'
                   'raise RequestValidationError([{"loc": ("body", "x"), "msg": "bad", "type": "value_error"}])\n'
                   'raise ActionRefused("too late", "stage")\n', encoding="utf-8")
    assert len(text_faults([bad])) == 4


def test_every_code_the_engine_and_the_api_raise_is_in_the_catalog():
    used = codes_used(_sources("api", "db", "domain", "workflows", "activities", "channels", "ops"))
    assert len(used) > 100  # the check sees them
    assert sorted(c for c in used if c not in CATALOG) == []


def zh_readable(text: str) -> bool:
    """Chinese, with no English words left (names of formats and ids aside, as in the pages' walk)."""
    return bool(re.search(r"[\u4e00-\u9fff]", text)) and not latin_words(text)


async def test_the_apis_own_errors_read_in_the_readers_language(env, engine):
    async with api(env, engine) as (http, L):
        ops, dealer = auth("ops"), auth("d-sh-1-mgr")

        async def both(method: str, url: str, status: int, **kw) -> tuple[dict, dict]:
            zh = await http.request(method, url, **kw)
            en = await http.request(method, url + ("&" if "?" in url else "?") + "lang=en", **kw)
            assert zh.status_code == en.status_code == status, (url, zh.text)
            return zh.json(), en.json()

        # 404: a lead the dealer may not see; a route that does not exist (FastAPI's own)
        zh, en = await both("GET", "/v1/leads/lead-aurora-nobody", 404, headers=dealer)
        assert (zh["code"], zh["detail"], en["detail"]) == (
            "error.not_found", "未找到线索 lead-aurora-nobody", "lead lead-aurora-nobody not found")
        zh, en = await both("GET", "/v1/no-such-page", 404, headers=dealer)
        assert (zh["code"], zh["detail"], en["detail"]) == ("error.http.404", "未找到", "not found")
        # 403: a role that may not
        zh, en = await both("GET", "/v1/calendar/2027", 403, headers=dealer)
        assert zh["code"] == "error.role_only" and zh_readable(zh["detail"]) and "网销经理" in zh["detail"]
        assert en["detail"] == "managing the calendar is for head of lead ops, lead ops, not the dealer manager"
        # 401
        zh, en = await both("GET", "/v1/leads", 401, headers={"Authorization": "Bearer nope"})
        assert (zh["detail"], en["detail"]) == ("访问令牌无效或已停用", "unknown or inactive token")
        # 422: pydantic's own errors, a rule of ours in a validator, one a route checks
        zh, en = await both("POST", "/v1/leads", 422, json={k: v for k, v in body(901).items() if k != "brand"},
                            headers=ops)
        assert zh["detail"][0] | {"msg": None} == {"loc": ["body", "brand"], "msg": None, "type": "missing",
                                                    "code": "invalid.missing"}
        assert (zh["detail"][0]["msg"], en["detail"][0]["msg"]) == ("必填", "field required")
        zh, en = await both("POST", "/v1/webhooks", 422, json={"url": "ftp://x"}, headers=ops)
        assert (zh["detail"][0]["loc"], zh["detail"][0]["code"]) == (["body", "url"], "invalid.http_url")
        assert zh_readable(zh["detail"][0]["msg"])
        assert en["detail"][0]["msg"] == "must be an absolute http or https URL"
        zh, en = await both("POST", "/v1/leads", 422, json=body(902, phone="12345"), headers=ops)
        assert (zh["detail"][0]["loc"], zh["detail"][0]["msg"]) == (["body", "phone"], "不是有效的手机号码")
        assert "12345" not in json.dumps(zh) + json.dumps(en)  # the client's phone is never echoed
        zh, en = await both("POST", "/v1/leads", 422, json=body(903, city="Gotham"), headers=ops)
        assert zh["detail"][0]["code"] == "invalid.place_unknown" and zh["detail"][0]["loc"] == ["body", "city"]
        assert zh_readable(zh["detail"][0]["msg"].replace("Gotham", ""))  # what the client wrote, echoed
        zh, en = await both("GET", "/v1/dashboards/funnel?from=2026-12-01&to=2026-11-01", 422, headers=ops)
        assert zh["detail"][0]["code"] == "invalid.to_after_from" and zh_readable(zh["detail"][0]["msg"])
        # a calendar upload's row
        zh, en = await both("POST", "/v1/calendar/2027/schedule", 422, content=b"date,kind\n2027-01-01,day off\n",
                            headers={**ops, "Content-Type": "text/csv"})
        assert zh["detail"][0]["loc"] == ["body", "row", 1, "kind"]
        said = zh["detail"][0]["msg"]  # names the values a file may hold, as written, and echoes the row's
        assert "holiday" in said and zh_readable(re.sub(r"holiday|workday|day off", "", said))
        assert en["detail"][0]["msg"] == "kind must be holiday or workday, not day off"
        # 409: an external id used for other content (Accept-Language alone)
        first = body(904)
        assert (await http.post("/v1/leads", json=first, headers=ops)).status_code == 200
        other = first | {"phone": "13900009999"}
        zh_409 = await http.post("/v1/leads", json=other, headers=ops)
        en_409 = await http.post("/v1/leads", json=other, headers={**ops, "Accept-Language": "en-GB,en;q=0.9"})
        assert zh_409.status_code == en_409.status_code == 409
        assert zh_409.json()["code"] == "error.external_id_reused" and zh_readable(zh_409.json()["detail"])
        assert en_409.json()["detail"].startswith("external_id was already used on channel")
        # a batch answers each item in the reader's language
        batch = await http.post("/v1/leads/batch", json={"items": [body(905, phone="12345")]}, headers=ops)
        assert batch.json()["results"][0]["errors"] == [{"loc": ["phone"], "msg": "不是有效的手机号码",
                                                          "code": "invalid.phone"}]
        # 413, answered before any route runs
        too_big = b"x" * (3 * 2 ** 20)
        big = await http.post("/v1/leads?lang=en", content=too_big, headers=ops)
        assert big.status_code == 413 and big.json()["code"] == "error.http.413" and "bytes" in big.json()["detail"]
        zh_big = await http.post("/v1/leads", content=too_big, headers=ops)
        assert zh_big.status_code == 413 and zh_readable(zh_big.json()["detail"])


@pytest.mark.parametrize(("lang", "text"), [("zh-CN", "未配置公司账号登录"),
                                           ("en", "Company sign-in is not configured")])
async def test_the_company_sign_in_refusal_page_reads_in_the_readers_language(env, engine, lang, text):
    async with api(env, engine) as (http, L):
        page = await http.get("/auth/oidc/login", headers={"Accept-Language": lang})
        assert page.status_code == 404 and text in page.text and 'data-code="oidc.off"' in page.text
        assert ("Cannot sign in" in page.text) == (lang == "en")
