"""The docs stay current: README.md's "Layout" names every top-level folder, every relative link in the docs
points to a file that exists, and README.md stays one page.

Reads files only; imports nothing of the project.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_PROJECT_FOLDERS = {".venv", "data", "test-artifacts", "build", "__pycache__"}
README_MAX_LINES = 150  # one page: README.md has fewer lines than this


def top_level_folders(root: Path) -> list[str]:
    """The repository's own top-level folders: not hidden, not a venv, data, build output or cache."""
    return sorted(
        p.name for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name not in NOT_PROJECT_FOLDERS
        and not p.name.endswith(".egg-info")
    )


def section(markdown: str, title: str) -> str:
    """The text under the `## <title>` heading, up to the next heading of the same or a higher level."""
    found = re.search(rf"^## {re.escape(title)}[ \t]*$(.*?)(?=^#{{1,2}} |\Z)", markdown, re.MULTILINE | re.DOTALL)
    return found.group(1) if found else ""


def missing_from_layout(root: Path, readme: str) -> list[str]:
    """The top-level folders that README.md's "Layout" section does not name as `name/`."""
    layout = section(readme, "Layout")
    return [name for name in top_level_folders(root) if f"`{name}/`" not in layout]


FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)


def relative_links(markdown: str) -> list[str]:
    """Targets of the links and images that point into the repository (not code, URLs or bare anchors)."""
    text = INLINE_CODE.sub("", FENCE.sub("", markdown))
    targets = LINK.findall(text) + REFERENCE.findall(text)
    return [t for t in targets if not re.match(r"^([a-z][a-z0-9+.-]*:|//|#)", t, re.IGNORECASE)]


def broken_links(path: Path) -> list[str]:
    """The relative links of one Markdown file whose file (or folder) does not exist."""
    broken = []
    for target in relative_links(path.read_text(encoding="utf-8")):
        file = target.split("#", 1)[0].split("?", 1)[0]
        if not (path.parent / file).exists():
            broken.append(target)
    return broken


def doc_files(root: Path) -> list[Path]:
    return [root / "README.md", root / "CONTRIBUTING.md", *sorted((root / "docs").glob("*.md"))]


# ------------------------------------------------------------------ the repository's docs


def test_the_layout_names_every_top_level_folder():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert section(readme, "Layout"), 'README.md has no "## Layout" section'
    missing = missing_from_layout(ROOT, readme)
    assert not missing, f"README.md's Layout does not list: {', '.join(f'`{m}/`' for m in missing)} (one line each)"


def test_every_relative_link_in_the_docs_points_to_a_file():
    files = doc_files(ROOT)
    assert all(f.exists() for f in files[:2]) and len(files) > 2, "README.md, CONTRIBUTING.md and docs/*.md exist"
    broken = {str(f.relative_to(ROOT)): broken_links(f) for f in files}
    assert not {k: v for k, v in broken.items() if v}, broken


def test_the_readme_stays_one_page():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, (
        f"README.md has {len(lines)} lines: keep it one page (< {README_MAX_LINES}); details go to docs/")


# ------------------------------------------------------------------ the checks themselves, on a fake tree


def fake_tree(tmp_path: Path, layout: list[str]) -> str:
    for name in ["api", "ops", "web", ".git", ".venv", "data", "test-artifacts", "build", "leadflow.egg-info",
                 "__pycache__"]:
        (tmp_path / name).mkdir()
    (tmp_path / "worker.py").write_text("")
    listed = "\n".join(f"| `{name}/` | what lives there |" for name in layout)
    return f"# Project\n\n`web/` is mentioned here, outside the layout.\n\n## Layout\n\n{listed}\n\n## Next\n\n`web/`\n"


def test_the_folders_checked_are_the_projects_own(tmp_path):
    fake_tree(tmp_path, [])
    assert top_level_folders(tmp_path) == ["api", "ops", "web"]


def test_a_folder_missing_from_the_layout_is_found(tmp_path):
    readme = fake_tree(tmp_path, ["api", "ops"])
    assert missing_from_layout(tmp_path, readme) == ["web"]  # named elsewhere in the README: not enough


def test_a_complete_layout_passes(tmp_path):
    readme = fake_tree(tmp_path, ["api", "ops", "web"])
    assert missing_from_layout(tmp_path, readme) == []


def test_a_readme_without_a_layout_section_misses_every_folder(tmp_path):
    fake_tree(tmp_path, [])
    assert missing_from_layout(tmp_path, "# Project\n\n`api/` `ops/` `web/`\n") == ["api", "ops", "web"]


def test_a_broken_link_is_found_and_code_urls_and_anchors_are_not_links(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "api.md").write_text("# API\n")
    (tmp_path / "README.md").write_text(
        "[api](docs/api.md#calls) [gone](docs/gone.md) ![shot](docs/missing.png)\n"
        "[web](https://example.com/x.md) [here](#layout) `[code](nowhere.md)`\n"
        "```\n[fenced](nowhere.md)\n```\n"
        "[ref]: docs/also-gone.md\n")
    assert broken_links(tmp_path / "README.md") == ["docs/gone.md", "docs/missing.png", "docs/also-gone.md"]
