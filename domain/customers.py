"""Customer identity (OneID): one customer per normalized phone; a lead id per brand and customer."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

import phonenumbers

from domain.messages import CodedError


class InvalidPhone(CodedError):
    """Not a phone number we can reach (the number itself is never in the message: a client's data)."""


def normalize_phone(raw: str) -> str:
    """E.164 for a valid phone; Chinese mobiles may come with or without +86, spaces, dashes."""
    text = raw.strip()
    try:
        parsed = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        raise InvalidPhone("invalid.phone") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone("invalid.phone")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if parsed.country_code == 86 and phonenumbers.number_type(parsed) in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ) and not re.fullmatch(r"\+861\d{10}", e164):
        raise InvalidPhone("invalid.phone_mobile")
    return e164


def customer_key(e164: str) -> str:
    """A stable pseudonymous key for the customer: the phone never appears in ids."""
    return hashlib.sha256(f"leadflow-oneid:{e164}".encode()).hexdigest()[:20]


def keyed_customer_id(e164: str, key: bytes) -> str:
    """The customer's part of a lead id: an HMAC-SHA256 of the phone with a secret key, so nobody without the
    key can compute the lead id of a phone (the unkeyed `customer_key` could be computed by anyone)."""
    return hmac.new(key, f"leadflow-oneid:{e164}".encode(), hashlib.sha256).hexdigest()[:20]


def brand_slug(brand: str) -> str:
    norm = " ".join(brand.split()).casefold()
    slug = re.sub(r"[^a-z0-9]+", "-", norm).strip("-")
    if slug.replace("-", " ") != norm:  # the slug lost information (蔚来, "Lynk & Co"): keep brands apart
        slug = f"{slug or 'brand'}-{hashlib.sha256(norm.encode()).hexdigest()[:8]}"
    return slug


def lead_id_for(brand: str, e164: str, key: bytes | None = None) -> str:
    """The lead's workflow id: one open lead per customer per brand. With a key: keyed (new leads);
    without: the legacy unkeyed id of leads started before keyed ids."""
    customer = customer_key(e164) if key is None else keyed_customer_id(e164, key)
    return f"lead-{brand_slug(brand)}-{customer}"


def lead_id_candidates(brand: str, e164: str, keys: Sequence[bytes]) -> list[str]:
    """Every id the customer's first lead of the brand may have, newest first: one per key (the current key
    first, then older keys still kept), then the legacy unkeyed id. A new lead takes the first."""
    ids = [lead_id_for(brand, e164, key) for key in keys]
    return ids + [lead_id_for(brand, e164)]


def mask_phone(e164: str) -> str:
    return e164[:-8] + "****" + e164[-4:] if len(e164) > 8 else "****"
