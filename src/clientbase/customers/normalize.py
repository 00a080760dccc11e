"""Normalisation and validation of contact data and Russian company requisites."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from email_validator import EmailNotValidError, validate_email

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

_PHONE_JUNK = re.compile(r"[^\d+]")
_MAX_PHONE_INPUT = 40


@lru_cache(maxsize=65536)
def _phone_e164(raw: str, region: str) -> str | None:
    text = raw.strip()
    if not text or len(text) > _MAX_PHONE_INPUT:
        return None
    # Spreadsheets and some shop exports prefix phones with ' or = to keep them text.
    text = text.lstrip("'=").strip()
    digits = _PHONE_JUNK.sub("", text)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not digits.strip("+"):
        return None
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # A few national forms give an E.164 that does not read back as itself (Belarus's
    # "8 810…" becomes +375810…, which parses as a different, invalid number): storing it
    # would make the stored phone unreadable, so such a number is not a valid one.
    if e164 != digits and _phone_e164(e164, region) != e164:
        return None
    return e164


def normalize_phone(raw: str, region: str | None = None) -> str:
    """Any common national or international form -> E.164 ('+79161234567').

    Raises ValidationError with a translated message when the number is not a valid one.
    """
    result = _phone_e164(str(raw), (region or settings.DEFAULT_PHONE_REGION).upper())
    if result is None:
        raise ValidationError(
            _("“%(value)s” is not a valid phone number. Example: +7 916 123-45-67."),
            code="invalid_phone",
            params={"value": str(raw)[:_MAX_PHONE_INPUT]},
        )
    return result


def try_normalize_phone(raw: str, region: str | None = None) -> str | None:
    return _phone_e164(str(raw), (region or settings.DEFAULT_PHONE_REGION).upper())


def format_phone(e164: str) -> str:
    """E.164 -> the international human form ('+7 916 123-45-67')."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@lru_cache(maxsize=65536)
def _email_normal(raw: str) -> str | None:
    text = raw.strip().strip("<>").strip()
    if not text or len(text) > 254:
        return None
    try:
        info = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return None
    # Shops treat addresses case-insensitively; one lower-case form makes duplicates visible.
    return info.normalized.lower()


def normalize_email(raw: str) -> str:
    result = _email_normal(str(raw))
    if result is None:
        raise ValidationError(
            _("“%(value)s” is not a valid e-mail address."),
            code="invalid_email",
            params={"value": str(raw)[:100]},
        )
    return result


def try_normalize_email(raw: str) -> str | None:
    return _email_normal(str(raw))


def _digits(value: str, lengths: tuple[int, ...], message: StrOrPromise, code: str) -> str:
    value = value.strip()
    # isascii(): str.isdigit() also accepts "²" and full-width digits, which int() refuses
    # or which would be stored as non-ASCII requisites.
    if not (value.isascii() and value.isdigit()) or len(value) not in lengths:
        raise ValidationError(message, code=code)
    return value


def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


def validate_inn(value: str) -> str:
    """INN of an organisation (10 digits) or an individual (12 digits), with its check digits."""
    inn = _digits(value, (10, 12), _("INN must have 10 or 12 digits."), "invalid_inn")
    if len(inn) == 10:
        ok = _weighted(inn, (2, 4, 10, 3, 5, 9, 4, 6, 8)) == int(inn[9])
    else:
        ok = _weighted(inn, (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == int(inn[10]) and _weighted(
            inn, (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
        ) == int(inn[11])
    if not ok:
        raise ValidationError(_("INN check digit is wrong: check the number."), code="inn_checksum")
    return inn


def validate_ogrn(value: str) -> str:
    """OGRN (13 digits) or OGRNIP (15 digits) with its check digit."""
    ogrn = _digits(value, (13, 15), _("OGRN must have 13 or 15 digits."), "invalid_ogrn")
    if len(ogrn) == 13:
        ok = int(ogrn[:12]) % 11 % 10 == int(ogrn[12])
    else:
        ok = int(ogrn[:14]) % 13 % 10 == int(ogrn[14])
    if not ok:
        raise ValidationError(
            _("OGRN check digit is wrong: check the number."), code="ogrn_checksum"
        )
    return ogrn


_KPP = re.compile(r"^\d{4}[\dA-Z]{2}\d{3}$", re.ASCII)


def validate_kpp(value: str) -> str:
    kpp = value.strip().upper()
    if not _KPP.match(kpp):
        raise ValidationError(_("KPP must have 9 characters, e.g. 773601001."), code="invalid_kpp")
    return kpp


def validate_bic(value: str) -> str:
    bic = _digits(value, (9,), _("BIC must have 9 digits."), "invalid_bic")
    if not bic.startswith("0"):
        raise ValidationError(_("A Russian BIC starts with 0."), code="invalid_bic")
    return bic


def validate_bank_account(account: str, bic: str) -> str:
    """Account (20 digits) checked against the bank's BIC (Bank of Russia key).

    A settlement account is keyed by the BIC's last three digits; a bank's correspondent
    account at the Bank of Russia (30101...) by "0" and the BIC's fifth and sixth digits.
    """
    account = _digits(
        account, (20,), _("A bank account number has 20 digits."), "invalid_bank_account"
    )
    key = ("0" + bic[4:6] if account.startswith("30101") else bic[-3:]) + account
    weights = (7, 1, 3) * 8
    if sum(int(d) * w for d, w in zip(key, weights, strict=False)) % 10 != 0:
        raise ValidationError(
            _("The account number does not match the bank's BIC."), code="bank_account_checksum"
        )
    return account


_YO = str.maketrans({"ё": "е", "Ё": "Е"})


def search_key(*parts: str) -> str:
    """Lower-case, ё->е, single-spaced: the form names are stored and searched in."""
    text = " ".join(p for p in parts if p)
    return " ".join(text.translate(_YO).casefold().split())


# --- city names ----------------------------------------------------------------------------

_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2212", "-"))
_SPACED_HYPHEN = re.compile(r"\s*-\s*")
# "г. Москва", "г Москва", "гор. Москва", "город Москва"; "Москва г." as KLADR exports write it.
_CITY_PREFIX = re.compile(r"^(?:г\.|г\s|гор\.|город\s)\s*", re.IGNORECASE)
_CITY_SUFFIX = re.compile(r"\s+г\.?$", re.IGNORECASE)
# Inner words of compound names that stay lower-case: Ростов-на-Дону, Рио-де-Жанейро,
# Frankfurt am Main, Stratford-upon-Avon.
_CITY_PARTICLES = frozenset(
    {"на", "над", "под", "де", "да", "ди", "дель", "ла", "ле", "дю", "ам", "эль"}
    | {"am", "an", "de", "del", "der", "di", "du", "la", "le", "les", "on", "upon", "sur", "im"}
)
# A leading settlement type other than "город" is part of the name and stays lower-case:
# "пгт Правдинский", "с. Ивановка", "посёлок Октябрьский".
_SETTLEMENT_TYPES = frozenset(
    {"пгт", "рп", "пос.", "п.", "с.", "д.", "дер.", "ст-ца", "х.", "аул"}
    | {"село", "деревня", "посёлок", "поселок", "станица", "хутор"}
)


def _capitalised(word: str) -> str:
    for i, char in enumerate(word):
        if char.isalpha():
            return word[:i] + char.upper() + word[i + 1 :]
    return word


def normalize_city(raw: str | None) -> str:
    """The one stored form of a city name, whatever the case and spacing it was typed in.

    Trims and collapses spaces, writes dashes as "-" without spaces around them, drops the
    "город" designator ("г. Москва", "Москва г." -> "Москва"), lower-cases everything and then
    capitalises each word and each part of a hyphenated word, except the inner particles
    ("ростов-на-дону" -> "Ростов-на-Дону") and a leading settlement type ("с. Ивановка").
    "ё" is kept as written. Idempotent, so stored and queried values compare with "=".
    """
    text = " ".join(unicodedata.normalize("NFC", str(raw or "")).translate(_DASHES).split())
    text = _SPACED_HYPHEN.sub("-", text).strip(" ,;")
    shorter = _CITY_SUFFIX.sub("", _CITY_PREFIX.sub("", text)).strip(" ,;")
    text = (shorter or text).lower()
    words = text.split(" ")
    out = []
    for index, word in enumerate(words):
        if index == 0 and len(words) > 1 and word in _SETTLEMENT_TYPES:
            out.append(word)
            continue
        parts = word.split("-")
        out.append(
            "-".join(
                p if (index or i) and p in _CITY_PARTICLES else _capitalised(p)
                for i, p in enumerate(parts)
            )
        )
    return " ".join(out)
