"""CSV import from the command line (issue: columns by header, bad rows reported, progress, idempotent re-runs).

Each scenario writes a small file, imports it in-process against the lab's worker, and reads the leads
back from the workflows and the read model. Phones 139 1234 xxxx belong to this file only.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from domain import commands as c
from ops.import_csv import ImportFailed, Progress, import_csv
from tests.fixtures import BRAND, CALL_CENTER
from tests.harness import lab
from workflows import gateway
from workflows.lead_ids import new_lead_id

ROOT = Path(__file__).resolve().parent.parent

CHINESE = """\
客户姓名,手机号,城市,意向车系,车型,预算,购车时间,渠道,活动,获客成本,备注,微信号
张伟,139 1234 0001,Shanghai,A5,A5 Pro,25万,一个月内,汽车之家,春季试驾,80,想要白色,zw01
李娜,13912340002,Hangzhou,A7,,300000,三个月内,抖音,,,,
"""


def lead_of(phone: str) -> str:
    return new_lead_id(BRAND, phone)


async def run(L, path: Path, **options):
    progress = io.StringIO()
    options.setdefault("brand", BRAND)
    report = await import_csv(L.client, L.task_queue, L.policy, path, progress=progress, **options)
    return report, progress.getvalue()


def write(tmp_path: Path, text: str, name: str = "leads.csv", encoding: str = "utf-8-sig") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


class TestColumnsByHeader:
    async def test_a_chinese_header_file_takes_in_leads_with_the_mapped_fields(self, env, engine, tmp_path):
        async with lab(env, engine) as L:
            report, progress = await run(L, write(tmp_path, CHINESE))
            assert report.exit_code == 0 and not report.bad
            assert report.outcomes == {"created": 2}
            assert report.lead_ids == {2: lead_of("+8613912340001"), 3: lead_of("+8613912340002")}
            assert report.ignored == ["微信号"] and "ignoring columns: 微信号" in progress

            row = L.lead_row(lead_of("+8613912340001"))
            assert (row.customer_name, row.city, row.series, row.channel) == ("张伟", "上海市", "A5", "autohome")
            profile = row.detail["profile"]
            assert (profile["model"], profile["budget"], profile["timeframe"]) == ("A5 Pro", 250_000, "within_30_days")
            assert (profile["campaign"], profile["acquisition_cost"], profile["note"]) == ("春季试驾", 80, "想要白色")
            assert row.detail["touchpoints"][0]["external_id"].startswith("csv-"), "no id column: derived from the row"
            other = L.lead_row(lead_of("+8613912340002"))
            assert (other.city, other.series, other.channel) == ("杭州市", "A7", "douyin")
            assert (other.detail["profile"]["budget"], other.detail["profile"]["timeframe"]) == (300_000,
                                                                                                 "within_90_days")

    async def test_an_english_tab_separated_file_with_ids_brand_and_flags(self, env, engine, tmp_path):
        text = (
            "External ID\tName\tMobile\tCity\tSeries\tBudget\tTimeframe\tSource\tCampaign\tCost\tBrand\t"
            "Financing\tTrade-in\tDealer\n"
            "ext-11\tAlice\t+86 139 1234 0011\tGuangzhou\tA7\t180000\twithin 15 "
            "days\twebsite\tspring\t55.5\tAurora\tyes\tno\tD-GZ-1\n"
            "ext-12\tBob\t13912340012\tShanghai\tA5\t20w\t\t\t\t\tAurora\t\t1\t\n"
        )
        async with lab(env, engine) as L:
            report, _ = await run(L, write(tmp_path, text, encoding="utf-8"), brand=None)
            assert report.exit_code == 0 and report.outcomes == {"created": 2}

            alice = await L.state(lead_of("+8613912340011"))
            p = alice.profile
            assert (p.customer_name, p.city, p.series, p.budget, p.timeframe) == ("Alice", "广州市", "A7", 180_000,
                                                                                  "within_15_days")
            assert (p.financing_interest, p.trade_in, p.preferred_dealer_id) == (True, False, "D-GZ-1")
            assert [(t.channel, t.external_id, t.campaign, t.acquisition_cost) for t in alice.touchpoints] == [
                ("website", "ext-11", "spring", 55.5)]
            bob = L.lead_row(lead_of("+8613912340012"))
            assert bob.channel == "csv_import", "no channel cell: the import's own channel"
            assert (bob.detail["profile"]["budget"], bob.detail["profile"]["trade_in"]) == (200_000, True)

    async def test_a_gbk_file_from_excel(self, env, engine, tmp_path):
        text = CHINESE.replace("139 1234 0001", "13912340031").replace("13912340002", "13912340032")
        path = write(tmp_path, text, encoding="gbk")
        with pytest.raises(UnicodeDecodeError):
            path.read_bytes().decode("utf-8")  # the file really is not UTF-8
        async with lab(env, engine) as L:
            report, _ = await run(L, path)
            assert report.exit_code == 0 and report.outcomes == {"created": 2}
            row = L.lead_row(lead_of("+8613912340031"))
            assert (row.customer_name, row.channel, row.detail["profile"]["campaign"]) == ("张伟", "autohome",
                                                                                           "春季试驾")

    async def test_a_missing_required_column_stops_the_import_before_any_row(self, env, engine, tmp_path):
        path = write(tmp_path, "客户姓名,微信,城市\n张伟,13912340041,Shanghai\n")
        async with lab(env, engine) as L:
            with pytest.raises(ImportFailed, match=r"missing column: phone \(手机/手机号.*columns are: 客户姓名, 微信, "
                                                   r"城市"):
                await run(L, path)
            with pytest.raises(ImportFailed, match=r"missing column: brand .* or pass --brand"):
                await run(L, write(tmp_path, "姓名,手机\n张伟,13912340041\n"), brand=None)
            assert not (tmp_path / "leads.errors.csv").exists()
            with pytest.raises(gateway.LeadNotFound):
                await L.state(lead_of("+8613912340041"))


BAD = """\
姓名,手机,城市,车系,预算,渠道,备注
好客户,13912340051,Shanghai,A5,20万,官网,
坏手机,12345,Shanghai,A5,20万,官网,
,13912340053,Shanghai,A5,20万,官网,
坏预算,13912340054,Shanghai,A5,很多,官网,

坏渠道,13912340056,Shanghai,A5,20万,火星,
另一个好客户,13912340057,Shanghai,A7,,,"两行
的备注"
坏两处,13912340058,Shanghai,A5,-3,火星,
"""


class TestBadRows:
    async def test_bad_rows_are_reported_by_line_while_good_rows_go_through(self, env, engine, tmp_path):
        path = write(tmp_path, BAD)
        async with lab(env, engine) as L:
            report, _ = await run(L, path)
            assert report.exit_code == 1 and report.rows == 7 and report.outcomes == {"created": 2}
            reasons = {r.line: r.reason for r in report.bad}
            assert sorted(reasons) == [3, 4, 5, 7, 10], "physical lines: the blank line and the two-line note count"
            assert reasons[3] == "手机: not a phone number"  # no phone echoed, not even a bad one
            assert reasons[4] == "姓名: required, but empty"
            assert reasons[5].startswith("预算: '很多' is not a number")
            assert reasons[7].startswith("渠道: '火星' is not a known channel")
            assert reasons[10].startswith("预算: ") and "渠道: '火星'" in reasons[10], "every fault of the row is named"
            summary = report.summary()
            assert "line 3: 手机: not a phone number" in summary and "line 10: 预算" in summary
            assert "rows read 7: created 2, merged 0, reactivated 0, duplicates 0, bad 5" in summary

            assert set(report.lead_ids) == {2, 8}
            assert L.lead_row(lead_of("+8613912340057")).detail["profile"]["note"] == "两行\n的备注"
            for phone in ("+8613912340053", "+8613912340054", "+8613912340056"):
                with pytest.raises(gateway.LeadNotFound):
                    await L.state(lead_of(phone))

            with (tmp_path / "leads.errors.csv").open(encoding="utf-8-sig", newline="") as f:
                errors = list(csv.DictReader(f))
            assert list(errors[0]) == ["姓名", "手机", "城市", "车系", "预算", "渠道", "备注", "line", "reason"]
            assert [(e["line"], e["姓名"], e["手机"]) for e in errors] == [
                ("3", "坏手机", "12345"), ("4", "", "13912340053"), ("5", "坏预算", "13912340054"),
                ("7", "坏渠道", "13912340056"), ("10", "坏两处", "13912340058")]
            assert errors[0]["reason"] == reasons[3]

    async def test_the_fixed_errors_file_imports_cleanly(self, env, engine, tmp_path):
        async with lab(env, engine) as L:
            await run(L, write(tmp_path, BAD.replace("1391234005", "1391234015")))
            errors = tmp_path / "leads.errors.csv"
            fixed = (errors.read_text(encoding="utf-8-sig").replace(",12345,", ",13912340152,")
                     .replace("\n,13912340153", "\n有名字,13912340153").replace("很多", "22万")
                     .replace("火星", "抖音").replace(",-3,", ",150000,"))
            (tmp_path / "fixed.csv").write_text(fixed, encoding="utf-8")
            report, progress = await run(L, tmp_path / "fixed.csv")
            assert report.exit_code == 0 and report.outcomes == {"created": 5}
            assert "ignoring columns" not in progress, "the errors file's line and reason columns are ours"
            assert L.lead_row(lead_of("+8613912340154")).detail["profile"]["budget"] == 220_000
            assert not (tmp_path / "fixed.errors.csv").exists()

    async def test_a_row_the_engine_refuses_is_a_bad_row(self, env, engine, tmp_path, monkeypatch):
        real = gateway.submit_raw_lead

        async def refusing(client, task_queue, policy, raw, actor):
            if raw.phone == "+8613912340062":
                raise gateway.ActionRefused("this customer is on the do-not-contact list", "invalid")
            return await real(client, task_queue, policy, raw, actor)

        monkeypatch.setattr(gateway, "submit_raw_lead", refusing)
        text = "姓名,手机\n甲,13912340061\n乙,13912340062\n丙,13912340063\n"
        async with lab(env, engine) as L:
            report, _ = await run(L, write(tmp_path, text))
            assert report.exit_code == 1 and report.outcomes == {"created": 2}
            assert [(r.line, r.reason) for r in report.bad] == [(3, "refused: this customer is on the do-not-contact "
                                                                    "list")]
            assert set(report.lead_ids) == {2, 4}


class TestReRuns:
    async def test_running_the_same_file_again_creates_nothing(self, env, engine, tmp_path):
        text = CHINESE.replace("13912340002", "13912340072").replace("139 1234 0001", "13912340071")
        text += "张伟,13912340071,Shanghai,A7,,30万,一周内,官网,,,,\n"  # the same customer again: merged
        path = write(tmp_path, text)
        async with lab(env, engine) as L:
            first, _ = await run(L, path)
            assert first.outcomes == {"created": 2, "merged": 1} and first.lead_ids[2] == first.lead_ids[4]
            lead_ids = sorted(set(first.lead_ids.values()))
            before = {i: (len((await L.state(i)).touchpoints), len(L.timeline(i))) for i in lead_ids}
            assert before[lead_of("+8613912340071")][0] == 2

            again, _ = await run(L, path)
            assert again.outcomes == {"duplicate": 3} and again.lead_ids == first.lead_ids
            assert "duplicates 3, bad 0" in again.summary()

            table = list(csv.reader(io.StringIO(text)))  # the same rows in another order, columns too
            shuffled = io.StringIO()
            csv.writer(shuffled).writerows(r[::-1] for r in [table[0]] + table[:0:-1])
            reordered, _ = await run(L, write(tmp_path, shuffled.getvalue(), name="reordered.csv"))
            assert reordered.outcomes == {"duplicate": 3}
            assert sorted(set(reordered.lead_ids.values())) == lead_ids

            after = {i: (len((await L.state(i)).touchpoints), len(L.timeline(i))) for i in lead_ids}
            assert after == before, "no new touchpoint, no new event"

    async def test_a_row_repeated_in_one_file_is_one_raw_lead(self, env, engine, tmp_path):
        text = "姓名,手机,城市\n甲,13912340081,Shanghai\n乙,13912340082,Shanghai\n甲,13912340081,Shanghai\n"
        async with lab(env, engine) as L:
            report, _ = await run(L, write(tmp_path, text))
            assert report.outcomes == {"created": 2, "duplicate": 1} and report.lead_ids[4] == report.lead_ids[2]
            assert len((await L.state(report.lead_ids[2])).touchpoints) == 1

    async def test_a_rerun_after_the_lead_closed_does_not_start_a_new_lead(self, env, engine, tmp_path):
        path = write(tmp_path, "姓名,手机\n甲,13912340091\n")  # no city: the call center cleanses it
        async with lab(env, engine) as L:
            first, _ = await run(L, path)
            lead_id = first.lead_ids[2]
            await L.act(lead_id, CALL_CENTER,
                        c.RecordCleansing(outcome=c.CleansingOutcome.INVALID, note="wrong number"))
            await L.handle(lead_id).result()
            again, _ = await run(L, path)
            assert again.outcomes == {"duplicate": 1} and again.lead_ids == {2: lead_id}
            with pytest.raises(gateway.LeadNotFound):
                await L.state(gateway.generation_id(lead_id, 2))


class TestProgress:
    async def test_the_import_reports_progress(self, env, engine, tmp_path):
        rows = "".join(f"客户{n},139123401{n:02d},Shanghai\n" for n in range(20))
        async with lab(env, engine) as L:
            report, progress = await run(L, write(tmp_path, "姓名,手机,城市\n" + rows))
            assert report.outcomes == {"created": 20}
            lines = progress.splitlines()
            assert lines[-1] == "importing: 20/20 rows (100%)"
            assert 1 < len(lines) <= 10, "not a terminal: a line every tenth of the way, not one per row"

    def test_on_a_terminal_the_bar_is_redrawn_in_place_and_not_for_every_row(self):
        class Terminal(io.StringIO):
            def isatty(self):
                return True

        out = Terminal()
        bar = Progress(5000, out)
        for _ in range(5000):
            bar.advance()
        bar.close()
        text = out.getvalue()
        assert text.startswith("\rimporting [") and text.endswith("rows/s\n")
        assert "[" + "#" * 30 + "] 5000/5000 100%" in text
        assert text.count("\r") < 50, "redrawn at most ten times a second"


class TestCommandLine:
    """The thin main(): exit codes and messages (a dry run needs no Temporal server)."""

    def cli(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ops.import_csv", *map(str, args)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    def test_exit_codes(self, tmp_path):
        good = self.cli(write(tmp_path, CHINESE, name="good.csv"), "--brand", BRAND, "--dry-run")
        assert good.returncode == 0, good.stderr
        assert "rows read 2: valid 2 (dry run: nothing submitted), bad 0" in good.stdout

        bad = self.cli(write(tmp_path, BAD, name="bad.csv"), "--brand", BRAND, "--dry-run", "--errors",
                       tmp_path / "out.csv")
        assert bad.returncode == 1
        assert "line 3: 手机: not a phone number" in bad.stdout
        assert (tmp_path / "out.csv").exists() and not (tmp_path / "bad.errors.csv").exists()

        missing = self.cli(write(tmp_path, "姓名,城市\n张伟,Shanghai\n", name="missing.csv"), "--brand", BRAND,
                           "--dry-run")
        assert missing.returncode == 2 and "error: missing column: phone" in missing.stderr
        assert self.cli(tmp_path / "nowhere.csv", "--dry-run").returncode == 2
