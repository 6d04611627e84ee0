"""The run command (issue 13 section 5): its banner names the portal and one manager's, one consultant's and one
OEM user's demo sign-in; the servers' logs go to data/logs/ unless --show-logs."""

from __future__ import annotations

import json
import sys

from devtools import dev, seed


def test_the_banner_names_the_portal_and_three_demo_sign_ins(tmp_path, monkeypatch):
    sign_ins = tmp_path / "demo-sign-ins.json"
    sign_ins.write_text(json.dumps({"ops-wang": "t-ops", "d-sh-01-manager": "t-mgr", "d-sh-01-c1": "t-c1", "x": "t-x"}))
    monkeypatch.setattr(seed, "SIGN_INS_FILE", sign_ins)
    text = dev.banner("1", "sqlite:///data/leadflow.db", False, tmp_path / "logs")
    assert "portal       http://127.0.0.1:8000/" in text
    for user, token in (("d-sh-01-manager", "t-mgr"), ("d-sh-01-c1", "t-c1"), ("ops-wang", "t-ops")):
        assert user in text and token in text
    assert "t-x" not in text and f"{tmp_path / 'logs'}/" in text and "--show-logs" in text


def test_the_servers_log_to_files_unless_shown(tmp_path):
    children = dev.Children(tmp_path / "logs")
    proc = children.start("api", [sys.executable, "-c", "print('hello from the api')"], {})
    proc.wait(timeout=30)
    assert (tmp_path / "logs" / "api.log").read_text().strip() == "hello from the api"
