"""Regenerate domain/data/divisions.csv, China's administrative divisions (GB/T 2260 codes), from a pinned source.

Source: `resources/adcodes.csv` of the PyPI package cpca 0.5.5 (MIT licence, © 2018 QinYuan Du; 12-digit adcodes of
the National Bureau of Statistics, whose first six digits are the GB/T 2260 code), plus each name's pinyin from
pypinyin 0.55.0. Nothing is typed in by hand; the few English exonyms that are not pinyin (Harbin, Hohhot, Inner
Mongolia, ...) are in domain/places.py, not here.

    pip download --no-deps cpca==0.5.5 pypinyin==0.55.0 && pip install pypinyin==0.55.0
    python scripts/gen_divisions.py cpca-0.5.5-py3-none-any.whl > domain/data/divisions.csv
"""

from __future__ import annotations

import csv
import io
import itertools
import sys
import zipfile

from pypinyin import Style, lazy_pinyin, pinyin

SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "自治州", "自治县", "地区", "林区",
            "新区", "省", "市", "区", "县", "盟", "旗")


GROUPINGS = {"县", "市辖区", "省直辖县级行政区划", "自治区直辖县级行政区划"}


def short(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def readings(name: str, limit: int = 16) -> str:
    """Every pinyin reading of the name, '|'-separated, the usual one first (heteronyms: 朝阳 is chaoyang, not only
    zhaoyang), at most `limit`."""
    usual = "".join(lazy_pinyin(name))
    per_char = pinyin(name, style=Style.NORMAL, heteronym=True)
    others = ("".join(combo) for combo in itertools.islice(itertools.product(*per_char), limit))
    return "|".join(dict.fromkeys([usual, *others]))


def coordinate(text: str) -> str:
    return f"{float(text):.4f}" if text.strip() else ""


def level(code: str) -> str:
    return "province" if code[2:] == "0000" else "city" if code[4:] == "00" else "county"


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as z:
        rows = list(csv.DictReader(io.TextIOWrapper(z.open("cpca/resources/adcodes.csv"), encoding="utf-8")))
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["code", "name", "short", "pinyin", "level", "latitude", "longitude"])
    seen: set[str] = set()
    for row in sorted(rows, key=lambda r: r["adcode"]):
        code = row["adcode"][:6]
        if row["adcode"][6:] != "000000" or code in seen:
            continue
        seen.add(code)
        name = row["name"].strip()
        if name in GROUPINGS:  # statistical groupings ("县" of 重庆), not places anyone names
            continue
        out.writerow([code, name, short(name), readings(short(name)), level(code),
                      coordinate(row["latitude"]), coordinate(row["longitude"])])


if __name__ == "__main__":
    main(sys.argv[1])
