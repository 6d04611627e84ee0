"""The message catalog: every notification kind the engine emits has a Chinese and an English text."""

from __future__ import annotations

import re
from pathlib import Path

import activities
import activities.owner_care
import channels.delivery
import db.policies
import db.referrals
import domain.dispatch
import domain.lifecycle
import domain.scoring
import domain.simulate
import workflows
from domain.clocks import CLOCKS
from domain.events import Ev
from domain.messages import CATALOG, LABELS, LANGS, render
from domain.owner_care import TouchpointKind
from domain.simulate import assumption

ROOT = Path(__file__).resolve().parent.parent
# where the engine emits codes for people: t.notify/t.alert in the lifecycle, a Notification's kind
_KIND = re.compile(r"""(?:\bt\.(?:notify|alert)\(\s*|\bkind=)["']([a-z_]+)["']""")
# a literal message code handed on (code="refused.stage", render("push.test", ...), "dispatch.none", ...)
_CODE = re.compile(r"""["']((?:refused|dispatch|score|sim|policy|owner|push|timeline)\.[a-z_]+(?:\.[a-z_]+)*)["']""")
# the scoring rules' outcomes: _flag(x, "yes", "no"), _named(x, "yes", "no"), _count(n, k, "code"),
# _b("attr", k, "code"), return f, "code", {...}
_SCORE = [re.compile(r"""_(?:flag|named)\([^"]*?,\s*"([a-z_]+)",\s*"([a-z_]+)"\s*[,)]""", re.S),
          re.compile(r"""_count\([^"]*?"([a-z_]+)"\)"""), re.compile(r"""_b\("[a-z_]+",\s*\d+,\s*"([a-z_]+)"\)"""),
          re.compile(r"""return [^,\n]+, "([a-z_]+)", [{(]""")]


def _sources(*modules) -> list[Path]:
    out: list[Path] = []
    for module in modules:
        path = Path(module.__file__)
        out += sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
    return out


def emitted_kinds() -> set[str]:
    """Every notification kind the engine emits: the lifecycle's notices and alerts, a clock's lapse (its name),
    the calendar's, owner care's, referrals' and the push channels' own inbox rows."""
    kinds = {name for name in CLOCKS}  # a clock's lapse alerts under its own name
    for path in _sources(domain.lifecycle, workflows, activities.owner_care, db.referrals, channels.delivery):
        kinds |= set(_KIND.findall(path.read_text()))
    # messages to the owner's phone (recipient role "owner", kind owner_<touchpoint>) carry their own SMS text
    return {k for k in kinds if not k.startswith("owner_") or k.startswith("owner_care")}


def emitted_codes() -> set[str]:
    """Every other message code the engine hands on: refusals, dispatch explanations, score reasons, the what-if
    report's reasons and assumptions, the timeline's entries, owner care's and the policy versions' own words."""
    codes = {f"timeline.{e.value}" for e in Ev if f"timeline.{e.value}" in CATALOG} | {f"event.{e.value}" for e in Ev}
    engine = _sources(domain.lifecycle, domain.dispatch, domain.simulate, workflows, activities, db.policies,
                      channels.delivery) + sorted((ROOT / "api").rglob("*.py"))
    for path in engine:
        codes |= set(_CODE.findall(path.read_text()))
    scoring = Path(domain.scoring.__file__).read_text()
    for pattern in _SCORE:
        for found in pattern.findall(scoring):
            codes |= {f"score.{c}" for c in ([found] if isinstance(found, str) else found)}
    simulate = Path(domain.simulate.__file__).read_text()
    codes |= {f"sim.why.{c}" for c in re.findall(r'\bsay\("([a-z_]+)"', simulate)}
    codes |= assumption_codes()
    codes |= {f"owner.task.{k.value}" for k in TouchpointKind} | {f"touchpoint.{k.value}" for k in TouchpointKind}
    return codes


def assumption_codes() -> set[str]:
    """The codes of the simulator's assumptions (`_assume(...)` in domain/simulate.py, f-strings filled in)."""
    kinds = re.findall(r"""_assume\(f?"([^"]+)"\)""", Path(domain.simulate.__file__).read_text())
    return {assumption(k.replace("{envelope.command.action}", "acknowledge").replace("{kind}", "score"))["code"]
            for k in kinds}


def missing_texts(codes: set[str], catalog: dict[str, dict[str, str]]) -> set[tuple[str, str]]:
    """(code, language) for every code without a text in one of the languages."""
    return {(code, lang) for code in codes for lang in LANGS if not catalog.get(code, {}).get(lang)}


def test_the_scan_finds_the_kinds_and_codes_we_know():
    kinds = emitted_kinds()
    assert {"lead_assigned", "defeat_approval_needed", "calendar_unconfirmed", "first_response",
            "no_eligible_dealer", "owner_care_task", "owner_care_task_lapsed", "referral_reward",
            "push_target_broken"} <= kinds
    codes = emitted_codes()
    assert {"refused.stage", "refused.wrong_role", "dispatch.none", "dispatch.tied", "score.city_served",
            "score.no_preferred_dealer", "score.deposit_intent", "score.walked_in", "score.timeframe_part",
            "sim.why.lapses", "sim.why.assumed", "sim.assumption.working_day_deadline_estimated",
            "sim.assumption.recorded_action_not_allowed", "sim.assumption.recorded_not_asked", "policy.seeded",
            "owner.no_consent", "owner.task.trade_in_review", "timeline.clock_lapsed", "push.target_broken",
            "refused.decline_quota", "refused.claim_limit", "refused.not_taken_in"} <= codes
    # every assumption the simulator makes has words of its own (not the fallback naming its kind)
    assert len(assumption_codes()) >= 9 and "sim.assumption.other" not in assumption_codes()


def test_every_kind_and_code_the_engine_emits_has_both_texts():
    assert not missing_texts(emitted_kinds() | emitted_codes(), CATALOG)


def test_the_check_fails_on_a_code_without_one_of_its_texts():
    """The negative control: a catalog that lost one language of one emitted code (or a whole code) is caught."""
    codes = emitted_kinds() | emitted_codes()
    for code, lang in (("owner_care_task", "en"), ("refused.stage", "zh-CN"), ("sim.why.grade", "en")):
        broken = {k: dict(v) for k, v in CATALOG.items()}
        del broken[code][lang]
        assert missing_texts(codes, broken) == {(code, lang)}
    assert missing_texts(codes, {k: v for k, v in CATALOG.items() if k != "score.walked_in"}) == {
        ("score.walked_in", "zh-CN"), ("score.walked_in", "en")}


def test_every_label_table_has_both_texts():
    assert all(zh and en for table in LABELS.values() for zh, en in table.values())


def test_render_is_chinese_first_and_never_fails():
    assert render("first_response", {"lead": "L1"}).startswith("【超时提醒】首次响应")
    assert "first response" in render("first_response", {"lead": "L1"}, lang="en")
    assert render("push.digest", {"count": 3}) == "3 条新提醒…"
    assert render("lead_assigned", {}) and render("no-such-code") == "no-such-code"
    assert render("calendar_unconfirmed", {"year": 2027}, lang="fr").startswith("2027 年")
