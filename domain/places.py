"""Places by code: China's administrative divisions (GB/T 2260), so 上海, "Shanghai", "上海市" and 310000 are one city.

The data is `domain/data/divisions.csv`, generated from a pinned package (scripts/gen_divisions.py names the source);
nothing here is typed in by hand but the few English exonyms that are not pinyin (`EXONYMS`). Pure: no I/O after the
file is read once.

- `resolve(text)`: the division a Chinese name (with or without 市/省/区…), a pinyin or English name, or a code
  names; `Unknown` or `Ambiguous` (with the candidates) otherwise.
- `city_of(division)`: the prefecture-level city (or municipality) a division belongs to: dispatch and filters compare
  cities by this code.
- `same_city(a, b)`: two free-text places name the same city (falls back to comparing the text when one of them is
  not a place we know, so old rows keep working).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from domain.messages import CodedError

DATA = Path(__file__).parent / "data" / "divisions.csv"
MUNICIPALITIES = frozenset({"11", "12", "31", "50"})  # 北京 天津 上海 重庆: the province is the city
LEVEL_RANK = {"province": 0, "city": 1, "county": 2}
# English names that are not the pinyin of the Chinese one, and pinyin that two cities share where one is meant
# far more often (a customer typing "Suzhou" means 苏州市, Jiangsu; 宿州 is typed in Chinese or by code).
EXONYMS: dict[str, str] = {
    "harbin": "230100", "hohhot": "150100", "urumqi": "650100", "innermongolia": "150000", "tibet": "540000",
    "hongkong": "810000", "macau": "820000", "macao": "820000", "shaanxi": "610000", "shanxi": "140000",
    "suzhou": "320500", "taizhou": "331000", "fuzhou": "350100", "yichun": "360900",
}
_LATIN_NOISE = re.compile(r"[\s\-'’·.]+")
_LATIN_SUFFIXES = ("city", "shi", "province", "sheng", "district", "qu", "county", "xian", "municipality")


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    short: str
    pinyin: tuple[str, ...]  # the usual reading first
    level: str  # province | city | county
    latitude: float | None
    longitude: float | None

    @property
    def city_code(self) -> str:
        if self.code[:2] in MUNICIPALITIES:
            return self.code[:2] + "0000"
        return self.code if self.level != "county" else self.code[:4] + "00"


class PlaceError(CodedError):
    pass


class Unknown(PlaceError):
    def __init__(self, text: str):
        super().__init__("invalid.place_unknown", text=text)
        self.text = text


class Ambiguous(PlaceError):
    def __init__(self, text: str, candidates: list[Division]):
        super().__init__("invalid.place_ambiguous", text=text,
                         names="、".join(f"{d.name}（{d.code}）" for d in candidates[:5]))
        self.text, self.candidates = text, candidates


@dataclass(frozen=True)
class _Index:
    by_code: dict[str, Division]
    by_hanzi: dict[str, list[Division]]
    by_pinyin: dict[str, list[Division]]  # usual reading
    by_other_reading: dict[str, list[Division]]


@lru_cache(maxsize=1)
def _index() -> _Index:
    by_code: dict[str, Division] = {}
    by_hanzi: dict[str, list[Division]] = {}
    by_pinyin: dict[str, list[Division]] = {}
    by_other: dict[str, list[Division]] = {}
    with DATA.open(encoding="utf-8") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        for row in rows:
            d = Division(row["code"], row["name"], row["short"], tuple(row["pinyin"].split("|")), row["level"],
                         float(row["latitude"]) if row["latitude"] else None,
                         float(row["longitude"]) if row["longitude"] else None)
            by_code[d.code] = d
            for key in {d.name, d.short}:
                by_hanzi.setdefault(key, []).append(d)
            by_pinyin.setdefault(d.pinyin[0], []).append(d)
            for other in d.pinyin[1:]:
                by_other.setdefault(other, []).append(d)
    return _Index(by_code, by_hanzi, by_pinyin, by_other)


def divisions() -> list[Division]:
    return list(_index().by_code.values())


def by_code(code: str) -> Division | None:
    return _index().by_code.get(code)


def _latin_key(text: str) -> str:
    key = _LATIN_NOISE.sub("", text.casefold())
    for suffix in _LATIN_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix) + 2:
            return key[: -len(suffix)]
    return key


def _best(text: str, found: list[Division]) -> Division:
    top = min(LEVEL_RANK[d.level] for d in found)
    best = [d for d in found if LEVEL_RANK[d.level] == top]
    # a municipality is listed as a province and its districts share its short name: one city
    if len({d.city_code for d in best}) == 1:
        return best[0]
    raise Ambiguous(text, sorted(best, key=lambda d: d.code))


def resolve(text: str) -> Division:
    """The division `text` names. Raises `Unknown` or `Ambiguous`."""
    text = (text or "").strip()
    index = _index()
    if not text:
        raise Unknown(text)
    if text.isdigit() and len(text) in (6, 9, 12):
        if (d := index.by_code.get(text[:6])) is not None:
            return d
        raise Unknown(text)
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        if found := index.by_hanzi.get(text):
            return _best(text, found)
        raise Unknown(text)
    key = _latin_key(text)
    if key in EXONYMS:
        return index.by_code[EXONYMS[key]]
    for table in (index.by_pinyin, index.by_other_reading):
        if found := table.get(key):
            return _best(text, found)
    raise Unknown(text)


@lru_cache(maxsize=4096)
def city_code(text: str | None) -> str | None:
    """The city code of a place, or None when the text names no place we know (or several)."""
    try:
        return resolve(text or "").city_code
    except PlaceError:
        return None


def city_name(code: str | None) -> str | None:
    d = by_code(code) if code else None
    return d.name if d else None


def display_city(text: str | None) -> str | None:
    """The city's Chinese name when `text` names a known place, else `text` as given (a lead taken in before
    places were codes keeps what it had: the read model and the pages show 上海市 for its "Shanghai")."""
    code = city_code(text)
    return city_name(code) if code else text


def canonical_city(text: str) -> tuple[str, str]:
    """(code, Chinese name) of the city `text` names: what intake stores. Raises `Unknown`/`Ambiguous`."""
    d = resolve(text)
    city = by_code(d.city_code) or d
    return city.code, city.name


def placed(city: str | None, code: str | None = None) -> tuple[str | None, str | None]:
    """(Chinese city name, code) for a raw lead's `city` (or, without it, its `city_code`); (None, None) for
    neither. Raises `Unknown`/`Ambiguous` for a place we cannot name."""
    if city and city.strip():
        code, name = canonical_city(city)
        return name, code
    if code:
        return canonical_city(code)[1], canonical_city(code)[0]
    return None, None


def same_city(a: str | None, b: str | None) -> bool:
    """Two places are the same city: by code when both are known, else as text (case-insensitive)."""
    if not a or not b:
        return False
    ca, cb = city_code(a), city_code(b)
    if ca and cb:
        return ca == cb
    return a.strip().casefold() == b.strip().casefold()
