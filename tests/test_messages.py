"""The message catalog: every notification kind the engine emits has a Chinese and an English text."""

from __future__ import annotations

import re
from pathlib import Path

import domain.lifecycle
import workflows.calendar
from domain.clocks import CLOCKS
from domain.messages import CATALOG, LANGS, render

_KIND = re.compile(r"""(?:\bt\.(?:notify|alert)\(\s*|kind=)["']([a-z_]+)["']""")


def _sources(module) -> list[Path]:
    path = Path(module.__file__)
    return sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]


def emitted_kinds() -> set[str]:
    kinds = {name for name in CLOCKS}  # a clock's lapse alerts under its own name
    for path in _sources(domain.lifecycle) + _sources(workflows.calendar):
        kinds |= set(_KIND.findall(path.read_text()))
    return kinds


def test_the_scan_finds_the_kinds_we_know():
    kinds = emitted_kinds()
    assert {"lead_assigned", "defeat_approval_needed", "calendar_unconfirmed", "first_response",
            "no_eligible_dealer"} <= kinds


def test_every_kind_the_engine_emits_has_both_texts():
    missing = {(k, lang) for k in emitted_kinds() for lang in LANGS if not CATALOG.get(k, {}).get(lang)}
    assert not missing


def test_render_is_chinese_first_and_never_fails():
    assert render("first_response", {"lead": "L1"}).startswith("【超时提醒】首次响应")
    assert "first response" in render("first_response", {"lead": "L1"}, lang="en")
    assert render("push.digest", {"count": 3}) == "3 条新提醒…"
    assert render("lead_assigned", {}) and render("no-such-code") == "no-such-code"
    assert render("calendar_unconfirmed", {"year": 2027}, lang="fr").startswith("2027 年")
