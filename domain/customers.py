"""Customer identity (OneID): one customer per normalized phone; a lead id per brand and customer."""

from __future__ import annotations

import hashlib
import re

import phonenumbers


class InvalidPhone(ValueError):
    pass


def normalize_phone(raw: str) -> str:
    """E.164 for a valid phone; Chinese mobiles may come with or without +86, spaces, dashes."""
    text = raw.strip()
    try:
        parsed = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"phone {raw!r} is not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(f"phone {raw!r} is not a valid number")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if parsed.country_code == 86 and phonenumbers.number_type(parsed) in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ) and not re.fullmatch(r"\+861\d{10}", e164):
        raise InvalidPhone(f"phone {raw!r} is not an 11-digit Chinese mobile number")
    return e164


def customer_key(e164: str) -> str:
    """A stable pseudonymous key for the customer: the phone never appears in ids."""
    return hashlib.sha256(f"leadflow-oneid:{e164}".encode()).hexdigest()[:20]


def lead_id_for(brand: str, e164: str) -> str:
    """The lead's workflow id: one open lead per customer per brand."""
    norm = " ".join(brand.split()).casefold()
    slug = re.sub(r"[^a-z0-9]+", "-", norm).strip("-")
    if slug.replace("-", " ") != norm:  # the slug lost information (蔚来, "Lynk & Co"): keep brands apart
        slug = f"{slug or 'brand'}-{hashlib.sha256(norm.encode()).hexdigest()[:8]}"
    return f"lead-{slug}-{customer_key(e164)}"


def mask_phone(e164: str) -> str:
    return e164[:-8] + "****" + e164[-4:] if len(e164) > 8 else "****"
