"""Every `workflow.patched(...)` / `deprecate_patch(...)` call names a patch in workflows/patches.py, and
every registered patch is still called somewhere (a removed call is removed from the registry too)."""

from __future__ import annotations

import ast
from pathlib import Path

from workflows.patches import PATCHES

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [p for folder in ("workflows", "activities", "domain") for p in (ROOT / folder).rglob("*.py")]


def patch_calls(path: Path) -> list[tuple[int, str | None]]:
    """(line, patch id) of each patched()/deprecate_patch() call in a file; None when the id is not a
    string literal or a module-level string constant."""
    tree = ast.parse(path.read_text(), str(path))
    constants = {t.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                 for t in node.targets if isinstance(t, ast.Name)}
    found: list[tuple[int, str | None]] = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"patched", "deprecate_patch"} and node.args):
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((node.lineno, arg.value))
            elif isinstance(arg, ast.Name):
                found.append((node.lineno, constants.get(arg.id)))
            else:
                found.append((node.lineno, None))
    return found


def all_calls() -> dict[str, list[str]]:
    calls: dict[str, list[str]] = {}
    for path in SOURCES:
        for line, patch_id in patch_calls(path):
            calls.setdefault(str(patch_id), []).append(f"{path.relative_to(ROOT)}:{line}")
    return calls


def test_every_patch_call_is_registered():
    calls = all_calls()
    assert "None" not in calls, f"a patch id that is not a string constant: {calls.get('None')}"
    unregistered = {patch_id: where for patch_id, where in calls.items() if patch_id not in PATCHES}
    assert not unregistered, f"add these to workflows/patches.py: {unregistered}"


def test_every_registered_patch_is_still_called():
    calls = all_calls()
    assert set(PATCHES) <= set(calls), f"registered but never called (remove them): {set(PATCHES) - set(calls)}"


def test_the_check_sees_an_unregistered_call(tmp_path):
    source = tmp_path / "wf.py"
    source.write_text('NEW = "brand-new"\n'
                      'def f(workflow):\n    return workflow.patched(NEW) or workflow.patched("other")\n')
    assert [patch_id for _, patch_id in patch_calls(source)] == ["brand-new", "other"]


def test_registry_entries_say_what_and_when():
    for patch in PATCHES.values():
        assert patch.changed and patch.workflow and "StartTime <" in patch.deprecate_when, patch
