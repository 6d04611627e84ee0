"""Import raw leads from a CSV file (线索导入): one row, one raw lead, through the same intake as the API.

    python -m ops.import_csv FILE.csv [--brand Aurora] [--channel autohome] [--concurrency 8]
                                           [--errors PATH] [--dry-run]

Columns are matched by their header, Chinese or English (姓名/name, 手机/phone, 城市/city, 车系/series,
车型/model, 预算/budget "25万" or 250000, 购车时间/timeframe "一个月内", 渠道/channel "汽车之家", 活动/campaign,
获客成本/cost, 经销商/dealer, 外部编号/external_id, 品牌/brand, 备注/note, 贷款/financing, 置换/trade_in,
同意/consent ...: see FIELD_HEADERS). Other columns are reported once and ignored. Name and phone are
required, and a brand (a 品牌 column or --brand, which fills empty cells). The channel is the row's 渠道,
else --channel, else csv_import. The file may be UTF-8 (with or without BOM), GBK or UTF-16, comma- or
tab-separated.

Bad rows are reported as `line N: reason` (the header is line 1) and written with their line and reason
to FILE.errors.csv (or --errors PATH): fix them there and import that file. Good rows go through.

Re-running is safe: a row's external id is its 外部编号/external_id cell, or else a hash of its content
(not its position), so a row taken in before is counted as a duplicate and changes nothing.

Exit code: 0 every row went through, 1 some rows were bad, 2 the file could not be imported at all.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import io
import json
import re
import sys
import time
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from pydantic import ValidationError
from sqlmodel import Session
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from core.settings import get_settings
from core.temporal_client import connect
from db import intake_keys
from db.engine import make_engine
from domain import places
from domain.customers import normalize_phone
from domain.lifecycle import duplicate_outcome
from domain.models import Actor, Channel, RawLead, Timeframe
from domain.policy import Policy, load_policy
from domain.stages import Role
from workflows import gateway, lead_ids

IMPORT_ACTOR = Actor(user_id="csv-import", role=Role.SYSTEM, name="CSV import")
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def _key(text: str) -> str:
    """How headers and values are compared: no spaces, underscores or dashes, case-insensitive."""
    return re.sub(r"[\s_\-]+", "", text).casefold()


FIELD_HEADERS = {
    "external_id": ["外部编号", "线索编号", "线索ID", "external_id", "lead_id", "id"],
    "customer_name": ["姓名", "客户姓名", "客户名称", "name", "customer_name", "customer"],
    "phone": ["手机", "手机号", "手机号码", "电话", "联系电话", "phone", "mobile", "tel"],
    "brand": ["品牌", "brand"],
    "channel": ["渠道", "来源", "线索来源", "channel", "source"],
    "city": ["城市", "city"],
    "latitude": ["纬度", "latitude", "lat"],
    "longitude": ["经度", "longitude", "lng", "lon"],
    "series": ["车系", "意向车系", "series"],
    "model": ["车型", "意向车型", "model"],
    "budget": ["预算", "购车预算", "budget"],
    "timeframe": ["购车时间", "预计购车时间", "timeframe"],
    "financing_interest": ["贷款", "金融", "贷款意向", "financing", "financing_interest"],
    "trade_in": ["置换", "trade_in"],
    "preferred_dealer_id": ["经销商", "经销商编号", "意向经销商", "dealer", "dealer_id", "preferred_dealer_id"],
    "campaign": ["活动", "活动名称", "campaign"],
    "acquisition_cost": ["成本", "获客成本", "cost", "acquisition_cost"],
    "note": ["备注", "note", "remark"],
    "consent": ["同意", "授权", "consent"],
    "submitted_at": ["提交时间", "留资时间", "submitted_at", "created_at"],
}
HEADERS = {_key(h): name for name, headers in FIELD_HEADERS.items() for h in headers}
ERROR_COLUMNS = ["line", "reason"]  # added to the errors file; ignored when it is imported again

T = Timeframe
TIMEFRAMES = {_key(t.value): t for t in Timeframe} | {_key(k): v for k, v in {
    "一周内": T.WITHIN_7_DAYS, "7天内": T.WITHIN_7_DAYS, "七天内": T.WITHIN_7_DAYS,
    "两周内": T.WITHIN_15_DAYS, "半个月内": T.WITHIN_15_DAYS, "15天内": T.WITHIN_15_DAYS,
    "一个月内": T.WITHIN_30_DAYS, "1个月内": T.WITHIN_30_DAYS, "30天内": T.WITHIN_30_DAYS,
    "三个月内": T.WITHIN_90_DAYS, "3个月内": T.WITHIN_90_DAYS, "90天内": T.WITHIN_90_DAYS,
    "半年内": T.LATER, "一年内": T.LATER, "一年以上": T.LATER, "以后": T.LATER,  # beyond 90 days
    "不确定": T.UNKNOWN, "待定": T.UNKNOWN, "未知": T.UNKNOWN,
}.items()}
C = Channel
CHANNELS = {_key(c.value): c for c in Channel} | {_key(k): v for k, v in {
    "官网": C.WEBSITE, "网站": C.WEBSITE, "小程序": C.MINI_PROGRAM, "微信小程序": C.MINI_PROGRAM,
    "抖音": C.DOUYIN, "汽车之家": C.AUTOHOME, "易车": C.YICHE, "易车网": C.YICHE, "直播": C.LIVE_STREAM,
    "400": C.HOTLINE, "400热线": C.HOTLINE, "热线": C.HOTLINE, "车展": C.AUTO_SHOW, "转介绍": C.REFERRAL,
    "推荐": C.REFERRAL, "到店": C.WALK_IN, "自然到店": C.WALK_IN, "导入": C.CSV_IMPORT,
}.items()}
FLAGS = {"是": True, "有": True, "需要": True, "同意": True, "y": True, "yes": True, "true": True, "1": True,
         "否": False, "无": False, "不需要": False, "不同意": False,
         "n": False, "no": False, "false": False, "0": False}


def _amount(text: str) -> float:
    """250000, 250,000元, 25万, 25w, 25.5万."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(万|w)?\s*元?", text.replace(",", "").replace("，", "").casefold())
    if not m:
        raise ValueError(f"{text!r} is not a number (say 250000 or 25万)")
    return float(m[1]) * (10_000 if m[2] else 1)


def _lookup(table: dict, what: str, examples: str):
    def convert(text: str):
        if _key(text) not in table:
            raise ValueError(f"{text!r} is not a known {what} ({examples})")
        return table[_key(text)]
    return convert


def _time(text: str) -> datetime:
    at = datetime.fromisoformat(text.replace("/", "-"))  # ValueError names the text
    return at if at.tzinfo else at.replace(tzinfo=SHANGHAI)  # an export from China states local time


CONVERTERS = {
    "phone": normalize_phone,  # InvalidPhone is a ValueError with the reason
    "budget": lambda text: round(_amount(text)),
    "acquisition_cost": _amount,
    "timeframe": _lookup(TIMEFRAMES, "purchase timeframe", "一周内, 半个月内, 一个月内, 三个月内, 半年内, "
                                                           "within_30_days ..."),
    "channel": _lookup(CHANNELS, "channel", "官网, 抖音, 汽车之家, 易车, 直播, 400热线, 车展, 转介绍, 到店, website, "
                                            "douyin ..."),
    "financing_interest": _lookup(FLAGS, "yes/no", "是/否, yes/no, 1/0"),
    "trade_in": _lookup(FLAGS, "yes/no", "是/否, yes/no, 1/0"),
    "consent": _lookup(FLAGS, "yes/no", "是/否, yes/no, 1/0"),
    "submitted_at": _time,
    "city": lambda text: places.canonical_city(text)[1],  # Unknown/Ambiguous are ValueErrors with the reason
}


class ImportFailed(Exception):
    """The file cannot be imported at all (unreadable, no header, a required column missing)."""


class BadRow(ValueError):
    pass


@dataclass
class Row:
    line: int  # the physical line the row starts on; the header is line 1
    cells: list[str]
    raw: RawLead | None = None
    reason: str | None = None


@dataclass
class ImportReport:
    rows: int = 0
    outcomes: Counter = field(default_factory=Counter)  # created | merged | reactivated | duplicate | valid (dry run)
    bad: list[Row] = field(default_factory=list)
    lead_ids: dict[int, str] = field(default_factory=dict)  # line -> lead id
    ignored: list[str] = field(default_factory=list)
    errors_path: Path | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.bad else 0

    def summary(self, show: int = 50) -> str:
        lines = [f"line {r.line}: {r.reason}" for r in sorted(self.bad, key=lambda r: r.line)[:show]]
        if len(self.bad) > show:
            lines.append(f"... and {len(self.bad) - show} more bad rows")
        o = self.outcomes
        counts = (f"valid {o['valid']} (dry run: nothing submitted)" if "valid" in o else
                  f"created {o['created']}, merged {o['merged']}, reactivated {o['reactivated']}, "
                  f"duplicates {o['duplicate']}")
        lines.append(f"rows read {self.rows}: {counts}, bad {len(self.bad)}")
        if self.errors_path and self.bad:
            lines.append(f"bad rows written to {self.errors_path}: fix them there and import that file")
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")  # Excel's "Unicode text"
    for encoding in ("utf-8-sig", "gb18030"):  # gb18030 reads GBK, the usual Excel export in China
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    raise ImportFailed("the file is neither UTF-8 nor GBK text")


@dataclass
class Table:
    header: list[str]
    delimiter: str
    rows: list[Row]
    columns: dict[str, int]  # field -> column index
    ignored: list[str]


def read_table(text: str, need_brand: bool) -> Table:
    first = text.lstrip().partition("\n")[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next((cells for cells in reader if any(c.strip() for c in cells)), None)
    if header is None:
        raise ImportFailed("the file is empty: no header line")
    columns: dict[str, int] = {}
    ignored: list[str] = []
    for i, name in enumerate(header):
        target = HEADERS.get(_key(name))
        if target in columns:
            raise ImportFailed(f"columns {header[columns[target]]!r} and {name!r} both mean {target}: keep one")
        if target:
            columns[target] = i
        elif name.strip() and _key(name) not in ERROR_COLUMNS:
            ignored.append(name.strip())
    required = ["customer_name", "phone"] + (["brand"] if need_brand else [])
    missing = [f"{f} ({'/'.join(FIELD_HEADERS[f])})" for f in required if f not in columns]
    if missing:
        hint = " or pass --brand" if "brand" in " ".join(missing) else ""
        raise ImportFailed(f"missing column: {', '.join(missing)}{hint}; the file's columns are: {', '.join(header)}")
    rows, start = [], reader.line_num + 1
    for cells in reader:
        if any(c.strip() for c in cells):  # Excel leaves empty rows behind
            rows.append(Row(start, cells))
        start = reader.line_num + 1
    return Table(header, delimiter, rows, columns, ignored)


def to_raw_lead(row: Row, table: Table, brand: str | None, channel: Channel | None) -> RawLead:
    """The row as a raw lead, or BadRow naming the columns at fault as the file writes them."""
    if len(row.cells) > len(table.header) and any(c.strip() for c in row.cells[len(table.header):]):
        raise BadRow(f"{len(row.cells)} cells, but the header has {len(table.header)} columns")
    label = {"brand": "--brand", "channel": "--channel"}
    label |= {name: table.header[i].strip() for name, i in table.columns.items()}
    values, reasons = {}, []
    for name, i in table.columns.items():
        text = row.cells[i].strip() if i < len(row.cells) else ""
        if text:
            try:
                values[name] = CONVERTERS.get(name, str)(text)
            except ValueError as err:
                reasons.append(f"{label[name]}: {err}")
    values.setdefault("brand", brand)
    values.setdefault("channel", channel or Channel.CSV_IMPORT)
    values = {k: v for k, v in values.items() if v is not None}
    if values.get("city"):  # the converter gave the city's Chinese name; its GB/T 2260 code goes with it
        values["city_code"] = places.city_code(values["city"])
    try:
        raw = RawLead.model_validate({"external_id": "pending"} | values)
    except ValidationError as err:
        for e in err.errors():
            column = label.get(str(e["loc"][0]), str(e["loc"][0])) if e["loc"] else "row"
            if not any(r.startswith(f"{column}:") for r in reasons):  # its converter said it already
                reasons.append(f"{column}: {'required, but empty' if e['type'] == 'missing' else e['msg']}")
    if reasons:
        raise BadRow("; ".join(reasons))
    if "external_id" not in values:  # from the content, not the position: a re-ordered file is the same file
        content = json.dumps(raw.model_dump(mode="json", exclude={"external_id"}), sort_keys=True, ensure_ascii=False)
        raw = raw.model_copy(update={"external_id": "csv-" + hashlib.sha256(content.encode()).hexdigest()[:24]})
    return raw


# --------------------------------------------------------------------------- progress


class Progress:
    """A bar redrawn in place on a terminal; elsewhere (a pipe, a log) a line at every tenth of the way."""

    def __init__(self, total: int, stream: IO[str], label: str = "importing"):
        self.total, self.stream, self.label, self.done = total, stream, label, 0
        self.tty = stream.isatty()
        self.started = self.drawn = time.monotonic()
        self.tenths = 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        percent = 100 * self.done // max(self.total, 1)
        if self.tty:
            now = time.monotonic()
            if now - self.drawn >= 0.1 or self.done >= self.total:
                self.drawn = now
                filled = 30 * self.done // max(self.total, 1)
                rate = self.done / max(now - self.started, 1e-9)
                self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] "
                                  f"{self.done}/{self.total} {percent}% {rate:.0f} rows/s")
                self.stream.flush()
        elif self.total and 10 * self.done // self.total > self.tenths:
            self.tenths = 10 * self.done // self.total
            print(f"{self.label}: {self.done}/{self.total} rows ({percent}%)", file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty and self.total:
            self.stream.write("\n")


# --------------------------------------------------------------------------- importing


async def _taken_before(client: Client, raw: RawLead) -> str | None:
    """The customer's lead that already took this raw lead (same channel and external id), if one did.

    The intake answers a repeat with its first answer, which cannot tell a re-run from a first run; and
    once that lead has closed, the intake would start the customer's next lead with it."""
    base = await lead_ids.resolve(client, raw.brand, raw.phone)
    for generation in range(1, gateway.MAX_GENERATIONS + 1):
        lead_id = gateway.generation_id(base, generation)
        try:
            status = (await gateway.handle(client, lead_id).describe()).status
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        if status not in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED):
            continue  # terminated or failed by hand: not a lead's own end, so not looked into
        state = await gateway.current_state(client, lead_id)  # a closed lead answers too (a worker replays it)
        if duplicate_outcome(state, raw) is not None:
            return lead_id
    return None


async def _take_in(client: Client, task_queue: str, policy: Policy, raw: RawLead, actor: Actor) -> tuple[str, str]:
    """(outcome, lead id): duplicate when a lead took this raw lead before, else the intake's answer."""
    lead_id = await _taken_before(client, raw)
    if lead_id:
        return "duplicate", lead_id
    result = await gateway.submit_raw_lead(client, task_queue, policy, raw, actor)
    return result.outcome, result.lead_id


async def import_csv(client: Client | None, task_queue: str, policy: Policy, source: str | Path | IO, *,
                     brand: str | None = None, channel: Channel | None = None, concurrency: int = 8,
                     errors_path: Path | None = None, dry_run: bool = False, actor: Actor = IMPORT_ACTOR,
                     progress: IO[str] | None = None, engine=None) -> ImportReport:
    """Import the file's rows; ImportFailed (before any row is submitted) when the file cannot be imported.
    Progress and the ignored columns go to `progress` (stderr); the caller prints `report.summary()`.
    With `engine` (the read model's database), each channel and external id is claimed for its row's content
    as the API claims it (db/intake_keys.py): an id used before with other content is a bad row."""
    progress = progress or sys.stderr
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as err:
            raise ImportFailed(f"cannot read {path}: {err.strerror}") from None
        errors_path = errors_path or path.with_name(f"{path.stem}.errors.csv")
    else:
        data = source.read()
    table = read_table(data if isinstance(data, str) else _decode(data), need_brand=not brand)
    report = ImportReport(rows=len(table.rows), ignored=table.ignored, errors_path=errors_path)
    if table.ignored:
        print(f"ignoring columns: {', '.join(table.ignored)}", file=progress)

    first_of: dict[str, list[Row]] = {}  # rows with one touchpoint key: the first is submitted, the rest repeat it
    for row in table.rows:
        try:
            row.raw = to_raw_lead(row, table, brand, channel)
            first_of.setdefault(row.raw.touchpoint_key, []).append(row)
        except BadRow as err:
            row.reason = str(err)
            report.bad.append(row)
    bar = Progress(len(table.rows), progress)
    bar.advance(len(report.bad))
    gate = asyncio.Semaphore(concurrency)

    def raw_of(row: Row) -> RawLead:
        if row.raw is None:  # only rows that became raw leads are in first_of
            raise ValueError(f"line {row.line} has no raw lead")
        return row.raw

    async def take_in(rows: list[Row]) -> None:
        first, outcome, lead_id = rows[0], "valid", None
        raw = raw_of(first)
        # one source id = one submission: a later row with the id and other content is refused, not a repeat
        content = intake_keys.fingerprint(raw)
        for row in rows[1:]:
            if intake_keys.fingerprint(raw_of(row)) != content:
                row.reason = f"{intake_keys.ExternalIdReused(raw.channel.value)} (line {first.line})"
                report.bad.append(row)
        count, rows = len(rows), [r for r in rows if not r.reason]
        if not dry_run and engine is not None and not await asyncio.to_thread(_claim, engine, raw):
            first.reason = str(intake_keys.ExternalIdReused(raw.channel.value))
        if not dry_run and not first.reason:
            if client is None:
                raise ValueError("importing (not a dry run) needs a Temporal client")
            async with gate:
                try:
                    outcome, lead_id = await _take_in(client, task_queue, policy, raw, actor)
                except gateway.ActionRefused as refused:
                    first.reason = f"refused: {refused.reason}"
                except RPCError as err:
                    first.reason = f"the engine did not answer ({err.message}): import this row again"
        for row in rows:
            if first.reason:
                row.reason = first.reason if row is first else f"{first.reason} (as line {first.line})"
                report.bad.append(row)
            else:
                report.outcomes[outcome if row is first or dry_run else "duplicate"] += 1
                if lead_id:
                    report.lead_ids[row.line] = lead_id
        bar.advance(count)

    try:
        await asyncio.gather(*(take_in(rows) for rows in first_of.values()))
    finally:
        bar.close()
    if errors_path:
        write_errors(errors_path, table, report.bad)
    return report


def _claim(engine, raw: RawLead) -> bool:
    with Session(engine) as session:
        return intake_keys.claim(session, raw) != "reused"


def write_errors(path: Path, table: Table, bad: list[Row]) -> None:
    """The bad rows with their original columns, line and reason (UTF-8 with BOM: Excel opens it)."""
    if not bad:
        path.unlink(missing_ok=True)  # a previous run's errors are fixed
        return
    keep = [i for i, name in enumerate(table.header) if _key(name) not in ERROR_COLUMNS]
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        out = csv.writer(f, delimiter=table.delimiter)
        out.writerow([table.header[i] for i in keep] + ERROR_COLUMNS)
        for row in sorted(bad, key=lambda r: r.line):
            cells = row.cells + [""] * (len(table.header) - len(row.cells))
            out.writerow([cells[i] for i in keep] + [row.line, row.reason])


async def _run(args: argparse.Namespace) -> int:
    settings = get_settings()
    client = None
    if not args.dry_run:
        try:
            client = await connect(settings)
        except RuntimeError as err:
            print(f"error: cannot reach Temporal at {settings.temporal_address}: {err}", file=sys.stderr)
            return 2
    policy = load_policy(settings.policy_path, settings.time_scale)
    if not args.dry_run:  # new leads take the active policy version (issue 16), when the read model has one
        from sqlmodel import Session

        from db.policies import active, policy_of
        with Session(make_engine(settings.database_url)) as session:
            row = active(session)
            policy = policy_of(row, settings.time_scale) if row else policy
    try:
        report = await import_csv(
            client, settings.task_queue, policy, Path(args.file),
            brand=args.brand, channel=args.channel, concurrency=args.concurrency,
            errors_path=Path(args.errors) if args.errors else None, dry_run=args.dry_run,
            engine=None if args.dry_run else make_engine(settings.database_url))
    except ImportFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report.summary())
    return report.exit_code


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ops.import_csv", description=__doc__.partition("\n")[0])
    parser.add_argument("file", help="the CSV file (UTF-8 or GBK, comma- or tab-separated)")
    parser.add_argument("--brand", help="the brand of rows without a 品牌/brand cell")
    parser.add_argument("--channel", type=Channel, choices=list(Channel),
                        help="the channel of rows without a 渠道/channel cell (default: csv_import)")
    parser.add_argument("--concurrency", type=int, default=8, help="raw leads in flight at once (default 8)")
    parser.add_argument("--errors", help="where to write the bad rows (default: FILE.errors.csv next to FILE)")
    parser.add_argument("--dry-run", action="store_true", help="check every row, submit nothing")
    code = asyncio.run(_run(parser.parse_args()))
    from ops.cli import exit_now

    exit_now(code)  # not SystemExit: the Temporal client's threads can abort the interpreter's teardown (-6)


if __name__ == "__main__":
    main()
