"""Finding a customer (issue 13): what a search box's text may mean, and the keys a lead is found by.

Pure, no I/O. A phone is never matched in the clear: the full number as its OneID hash (`customer_key`),
the last 4 digits as a short key of their own. A name matches by its beginning, case-folded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from domain.customers import InvalidPhone, customer_key, normalize_phone

MAX_QUERY = 64


def name_key(name: str) -> str:
    return " ".join(name.split()).casefold()[:128]


def lookup_keys(customer_name: str, phone: str) -> set[tuple[str, str]]:
    """The (kind, value) rows of `lead_lookup` for a lead's customer."""
    keys: set[tuple[str, str]] = set()
    if name_key(customer_name):
        keys.add(("name", name_key(customer_name)))
    digits = re.sub(r"\D", "", phone)
    if len(digits) >= 4:
        keys.add(("phone4", digits[-4:]))
    return keys


@dataclass(frozen=True)
class Search:
    text: str  # as typed, trimmed: a lead id or an external id is matched exactly
    name_prefix: str | None  # case-folded
    phone4: str | None  # exactly 4 digits typed
    customer_key: str | None  # a whole phone number typed, in any format


def parse(q: str) -> Search | None:
    text = q.strip()
    if not text:
        return None
    compact = re.sub(r"[\s\-().+]", "", text)
    phone4 = compact if re.fullmatch(r"\d{4}", compact) else None
    key = None
    if re.fullmatch(r"\d{7,15}", compact):
        try:
            key = customer_key(normalize_phone(text))
        except InvalidPhone:
            key = None
    name = name_key(text) if not re.search(r"\d", text) else None
    return Search(text=text, name_prefix=name or None, phone4=phone4, customer_key=key)
