"""The installable app's files agree (issue 13 section 5): the service worker's shell lists every file the portal
loads (else the app would not open offline, or would not install: one missing file fails the install), the
manifest names icons that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[1] / "web"


def shell() -> list[str]:
    text = (WEB / "sw.js").read_text()
    return re.findall(r'"(/[^"]*)"', text[text.index("const SHELL"):text.index("];")])


def test_the_shell_is_every_page_file_and_nothing_missing():
    listed = shell()
    assert "/" in listed
    for path in listed:
        if path != "/":
            assert (WEB / path.removeprefix("/web/")).is_file(), path
    page_files = {f"/web/{p.relative_to(WEB).as_posix()}" for p in WEB.rglob("*")
                  if p.suffix in {".js", ".css"} and not p.name.startswith("sw")}
    assert page_files <= set(listed), sorted(page_files - set(listed))


def test_the_manifest_names_icons_that_exist_and_opens_the_portal():
    manifest = json.loads((WEB / "manifest.webmanifest").read_text())
    assert manifest["display"] == "standalone" and manifest["start_url"].startswith("/")
    for icon in manifest["icons"]:
        assert (WEB / icon["src"].removeprefix("/web/")).is_file(), icon["src"]
        w, h = icon["sizes"].split("x")
        data = (WEB / icon["src"].removeprefix("/web/")).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and (int.from_bytes(data[16:20], "big"),
                                                     int.from_bytes(data[20:24], "big")) == (int(w), int(h))
