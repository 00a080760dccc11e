"""Normalisation of phones and e-mails, and checksums of Russian company requisites."""

from __future__ import annotations

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from clientbase.customers.normalize import (
    normalize_email,
    normalize_phone,
    search_key,
    try_normalize_email,
    try_normalize_phone,
    validate_bank_account,
    validate_bic,
    validate_inn,
    validate_kpp,
    validate_ogrn,
)

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def error_codes(excinfo: pytest.ExceptionInfo[ValidationError]) -> list[str | None]:
    return [e.code for e in excinfo.value.error_list]


# ---------------------------------------------------------------- reference algorithms
# Written here from the published descriptions (Federal Tax Service, Bank of Russia),
# independently of the code under test, to generate valid numbers and to cross-check it.


def _weighted_check(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


INN10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
INN12_WEIGHTS_1 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
INN12_WEIGHTS_2 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def reference_inn_ok(inn: str) -> bool:
    if len(inn) == 10:
        return _weighted_check(inn, INN10_WEIGHTS) == int(inn[9])
    return _weighted_check(inn, INN12_WEIGHTS_1) == int(inn[10]) and _weighted_check(
        inn, INN12_WEIGHTS_2
    ) == int(inn[11])


def reference_ogrn_ok(ogrn: str) -> bool:
    if len(ogrn) == 13:
        return int(ogrn[:12]) % 11 % 10 == int(ogrn[12])
    return int(ogrn[:14]) % 13 % 10 == int(ogrn[14])


def reference_account_ok(account: str, bic: str) -> bool:
    key = ("0" + bic[4:6] if account.startswith("30101") else bic[-3:]) + account
    return sum(int(d) * w for d, w in zip(key, ((7, 1, 3) * 8)[:23], strict=True)) % 10 == 0


digit_strings = lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)  # noqa: E731


@st.composite
def valid_inn10(draw: st.DrawFn) -> str:
    body = draw(digit_strings(9))
    return body + str(_weighted_check(body, INN10_WEIGHTS))


@st.composite
def valid_inn12(draw: st.DrawFn) -> str:
    body = draw(digit_strings(10))
    body += str(_weighted_check(body, INN12_WEIGHTS_1))
    return body + str(_weighted_check(body, INN12_WEIGHTS_2))


@st.composite
def valid_ogrn13(draw: st.DrawFn) -> str:
    body = draw(st.sampled_from("15")) + draw(digit_strings(11))
    return body + str(int(body) % 11 % 10)


@st.composite
def valid_ogrnip15(draw: st.DrawFn) -> str:
    body = "3" + draw(digit_strings(13))
    return body + str(int(body) % 13 % 10)


@st.composite
def valid_bic_and_account(draw: st.DrawFn) -> tuple[str, str]:
    """A BIC and a settlement account whose 9th digit is the Bank of Russia check digit."""
    bic = "04" + draw(digit_strings(7))
    head = draw(st.sampled_from(["40702", "40817", "40802", "40701"])) + draw(digit_strings(3))
    tail = draw(digit_strings(11))
    for check in "0123456789":
        account = head + check + tail
        if reference_account_ok(account, bic):
            return bic, account
    raise AssertionError("every weight is coprime to 10: one check digit always fits")


def single_digit_changes(number: str) -> list[tuple[int, str]]:
    return [
        (i, number[:i] + d + number[i + 1 :])
        for i in range(len(number))
        for d in "0123456789"
        if d != number[i]
    ]


# ---------------------------------------------------------------- phones

RUSSIAN_MOBILE_FORMS = [
    "8 ({a}) {b}-{c}-{d}",
    "+7 {a} {b} {c} {d}",
    "8{a}{b}{c}{d}",
    "7-{a}-{b}-{c}-{d}",
    "7{a}{b}{c}{d}",
    "{a} {b} {c} {d}",
    "{a}{b}{c}{d}",
    "'+7{a}{b}{c}{d}",
    "'8{a}{b}{c}{d}",
    "=+7{a}{b}{c}{d}",
    "00 7 {a} {b} {c} {d}",
    "007{a}{b}{c}{d}",
    "+7({a}){b}-{c}-{d}",
    "+7 ({a}) {b}-{c}-{d}",
    "8-{a}-{b}-{c}-{d}",
    "8 {a} {b}{c}{d}",
    "+7.{a}.{b}.{c}.{d}",
    "  +7 {a} {b} {c} {d}  ",
    "\t8 ({a}) {b} {c} {d}\n",
]


@st.composite
def russian_mobiles(draw: st.DrawFn) -> str:
    """Ten national digits of a number phonenumbers' metadata holds to be a valid RU mobile."""
    national = "9" + draw(digit_strings(9))
    number = phonenumbers.parse("+7" + national, None)
    assume(
        phonenumbers.is_valid_number(number)
        and phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE
    )
    return national


def written(form: str, national: str) -> str:
    return form.format(a=national[:3], b=national[3:6], c=national[6:8], d=national[8:])


@pytest.mark.parametrize("form", RUSSIAN_MOBILE_FORMS)
def test_common_forms_of_one_russian_mobile_give_one_e164(form):
    assert normalize_phone(written(form, "9161234567")) == "+79161234567"


@PROPERTY
@given(national=russian_mobiles(), form=st.sampled_from(RUSSIAN_MOBILE_FORMS))
def test_any_russian_mobile_in_any_common_form_gives_its_e164(national, form):
    assert normalize_phone(written(form, national)) == "+7" + national


@pytest.mark.parametrize(
    ("raw", "expected", "country_code"),
    [
        ("+44 20 7946 0958", "+442079460958", 44),
        ("+44 7911 123456", "+447911123456", 44),
        ("0044 7911 123456", "+447911123456", 44),
        ("+49 30 901820", "+4930901820", 49),
        ("+49 151 23456789", "+4915123456789", 49),
        ("+375 29 123-45-67", "+375291234567", 375),
        ("00375291234567", "+375291234567", 375),
        ("+380 67 123 4567", "+380671234567", 380),
        ("+380 (44) 123-45-67", "+380441234567", 380),
        ("+373 69 123456", "+37369123456", 373),
        ("+373 22 123456", "+37322123456", 373),
        ("+7 (495) 123-45-67", "+74951234567", 7),
    ],
)
def test_international_numbers_keep_their_country(raw, expected, country_code):
    result = normalize_phone(raw)
    assert result == expected
    assert phonenumbers.parse(result, None).country_code == country_code
    # The default region is only for numbers written without a country.
    assert normalize_phone(raw, region="DE") == expected


def test_default_region_applies_to_national_numbers():
    assert normalize_phone("030 901820", region="DE") == "+4930901820"
    assert normalize_phone("029 123-45-67", region="BY") == "+375291234567"
    with pytest.raises(ValidationError):
        normalize_phone("030 901820", region="RU")


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "   ",
        "abc",
        "телефон",
        "123",
        "+7 916",
        "8 916 123 45",
        "8 916 123 45 67 89 00",
        "+999 123456",
        "+7 000 000 00 00",
        "++++",
        "00",
        "'",
        "1" * 41,
        "+7 916 123 45 67 доб. 12",
        "null",
    ],
)
def test_junk_is_refused_with_a_clear_code(junk):
    with pytest.raises(ValidationError) as excinfo:
        normalize_phone(junk)
    assert error_codes(excinfo) == ["invalid_phone"]
    assert "+7 916 123-45-67" in str(excinfo.value.messages[0])
    assert try_normalize_phone(junk) is None


@PROPERTY
@given(raw=st.text(alphabet=st.characters(blacklist_categories=["Nd"]), max_size=30))
def test_text_without_digits_is_never_a_phone(raw):
    assert try_normalize_phone(raw) is None


@PROPERTY
@given(
    raw=st.one_of(
        st.text(max_size=45),
        st.text(alphabet="0123456789 +-()'=.", max_size=25),
        st.builds(written, st.sampled_from(RUSSIAN_MOBILE_FORMS), digit_strings(10)),
    ),
    region=st.sampled_from(["RU", "BY", "DE", "GB", "UA", "MD"]),
)
def test_normalising_a_phone_twice_changes_nothing(raw, region):
    once = try_normalize_phone(raw, region)
    if once is None:
        with pytest.raises(ValidationError):
            normalize_phone(raw, region)
        return
    assert once.startswith("+") and once[1:].isdigit()
    assert normalize_phone(once, region) == once
    assert normalize_phone(once) == once


# ---------------------------------------------------------------- e-mails


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ivan.Petrov@Example.COM ", "ivan.petrov@example.com"),
        ("A@B.RU", "a@b.ru"),
        ("<shop+orders@mail.ru>", "shop+orders@mail.ru"),
        ("\tanna_k@yandex.ru\n", "anna_k@yandex.ru"),
        ("иван@пример.рф", "иван@пример.рф"),
    ],
)
def test_emails_are_trimmed_and_lower_cased(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "  ", "not-an-email", "a@b", "@mail.ru", "ivan@", "a@@b.ru", "a b@c.ru", "ivan@mail..ru"],
)
def test_invalid_emails_are_refused(raw):
    with pytest.raises(ValidationError) as excinfo:
        normalize_email(raw)
    assert error_codes(excinfo) == ["invalid_email"]
    assert try_normalize_email(raw) is None


@PROPERTY
@given(address=st.emails(), pad=st.sampled_from(["", " ", "  ", "\t", "\n "]))
def test_normalising_an_email_twice_changes_nothing(address, pad):
    once = try_normalize_email(pad + address + pad)
    assume(once is not None)
    assert once == once.strip().lower()
    assert normalize_email(once) == once
    # Case and padding never make a second customer out of one address.
    assert normalize_email(pad + address.swapcase() + pad) == once


@PROPERTY
@given(raw=st.text(max_size=60))
def test_normalising_any_text_as_email_is_idempotent(raw):
    once = try_normalize_email(raw)
    if once is not None:
        assert try_normalize_email(once) == once


# ---------------------------------------------------------------- INN


PUBLISHED_INN = ["7707083893", "7736207543", "7736050003", "7830002293", "500100732259"]


@pytest.mark.parametrize("inn", PUBLISHED_INN)
def test_published_inns_are_accepted(inn):
    assert validate_inn(f" {inn} ") == inn


@pytest.mark.parametrize("inn", PUBLISHED_INN)
def test_every_single_digit_change_of_a_published_inn_is_refused(inn):
    for _position, changed in single_digit_changes(inn):
        with pytest.raises(ValidationError) as excinfo:
            validate_inn(changed)
        assert error_codes(excinfo) == ["inn_checksum"], changed


@PROPERTY
@given(inn=st.one_of(valid_inn10(), valid_inn12()))
def test_inns_built_by_the_algorithm_are_accepted(inn):
    assert validate_inn(inn) == inn


@PROPERTY
@given(inn=st.one_of(valid_inn10(), valid_inn12()), data=st.data())
def test_single_digit_change_of_an_inn(inn, data):
    position, changed = data.draw(st.sampled_from(single_digit_changes(inn)))
    if position >= len(inn) - 2 + (len(inn) == 10):
        # A changed check digit is always caught.
        with pytest.raises(ValidationError):
            validate_inn(changed)
        return
    # Elsewhere the "% 11 % 10" of the algorithm maps remainders 0 and 10 alike, so a few
    # changes are valid numbers in their own right; the validator must agree exactly.
    if reference_inn_ok(changed):
        assert validate_inn(changed) == changed
    else:
        with pytest.raises(ValidationError) as excinfo:
            validate_inn(changed)
        assert error_codes(excinfo) == ["inn_checksum"]


@pytest.mark.parametrize(
    "raw", ["", "770708389", "77070838931", "7707O83893", "７７０７０８３８９３", "²" * 10]
)
def test_inn_of_wrong_shape_is_refused(raw):
    with pytest.raises(ValidationError) as excinfo:
        validate_inn(raw)
    assert error_codes(excinfo) == ["invalid_inn"]


# ---------------------------------------------------------------- OGRN / OGRNIP


PUBLISHED_OGRN = [
    "1027700132195",
    "1027700229193",
    "1027700070518",
    "1027809169585",
    "304500116000157",
]


@pytest.mark.parametrize("ogrn", PUBLISHED_OGRN)
def test_published_ogrns_are_accepted_and_any_digit_change_refused(ogrn):
    assert validate_ogrn(ogrn) == ogrn
    for _position, changed in single_digit_changes(ogrn):
        if reference_ogrn_ok(changed):
            # The "% 11 % 10" (or "% 13 % 10") collision: a different valid number.
            continue
        with pytest.raises(ValidationError) as excinfo:
            validate_ogrn(changed)
        assert error_codes(excinfo) == ["ogrn_checksum"], changed


def test_sberbank_ogrn_has_no_valid_single_digit_neighbour():
    assert not any(reference_ogrn_ok(c) for _, c in single_digit_changes("1027700132195"))


@PROPERTY
@given(ogrn=st.one_of(valid_ogrn13(), valid_ogrnip15()), data=st.data())
def test_ogrns_built_by_the_algorithm_are_accepted_and_changes_checked(ogrn, data):
    assert validate_ogrn(ogrn) == ogrn
    position, changed = data.draw(st.sampled_from(single_digit_changes(ogrn)))
    if position == len(ogrn) - 1 or not reference_ogrn_ok(changed):
        with pytest.raises(ValidationError) as excinfo:
            validate_ogrn(changed)
        assert error_codes(excinfo) == ["ogrn_checksum"]
    else:
        assert validate_ogrn(changed) == changed


@pytest.mark.parametrize(
    "raw",
    ["", "102770013219", "10277001321950", "1027700l32195", "²" * 13, "１０２７７００１３２１９５"],
)
def test_ogrn_of_wrong_shape_is_refused(raw):
    with pytest.raises(ValidationError) as excinfo:
        validate_ogrn(raw)
    assert error_codes(excinfo) == ["invalid_ogrn"]


# ---------------------------------------------------------------- KPP, BIC, bank account


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("773601001", "773601001"), ("770401001", "770401001"), (" 7736ab001 ", "7736AB001")],
)
def test_kpp_accepted(raw, expected):
    assert validate_kpp(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "77360100", "7736010011", "77360100A", "A73601001", "７７３６０１００１", "²" * 9]
)
def test_kpp_of_wrong_shape_is_refused(raw):
    with pytest.raises(ValidationError) as excinfo:
        validate_kpp(raw)
    assert error_codes(excinfo) == ["invalid_kpp"]


@pytest.mark.parametrize(
    "raw",
    ["", "04452522", "0445252250", "144525225", "04452522X", "０４４５２５２２５", "0" + "²" * 8],
)
def test_bic_of_wrong_shape_is_refused(raw):
    with pytest.raises(ValidationError) as excinfo:
        validate_bic(raw)
    assert error_codes(excinfo) == ["invalid_bic"]


# Banks' published requisites: BIC and correspondent account at the Bank of Russia.
PUBLISHED_BANKS = [
    ("044525225", "30101810400000000225"),  # Sberbank
    ("044525187", "30101810700000000187"),  # VTB
    ("044525593", "30101810200000000593"),  # Alfa-Bank
    ("044525974", "30101810145250000974"),  # T-Bank
]


@pytest.mark.parametrize(("bic", "account"), PUBLISHED_BANKS)
def test_published_bank_requisites_are_accepted(bic, account):
    assert validate_bic(bic) == bic
    assert validate_bank_account(account, bic) == account


@pytest.mark.parametrize(("bic", "account"), PUBLISHED_BANKS)
def test_every_single_digit_change_of_a_published_account_is_refused(bic, account):
    for position, changed in single_digit_changes(account):
        if position < 5 and not changed.startswith("30101"):
            # No longer a correspondent account: checked with the settlement key instead,
            # which one digit per position satisfies. The validator must agree exactly.
            assert reference_account_ok(changed, bic) == _passes(
                validate_bank_account, changed, bic
            )
            continue
        with pytest.raises(ValidationError) as excinfo:
            validate_bank_account(changed, bic)
        assert error_codes(excinfo) == ["bank_account_checksum"], changed


def _passes(validator, *args) -> bool:
    try:
        validator(*args)
    except ValidationError:
        return False
    return True


def test_correspondent_account_of_another_region_is_refused():
    # Sberbank's North-West bank (St Petersburg) has its own BIC and correspondent account.
    assert validate_bank_account("30101810500000000653", "044030653") == "30101810500000000653"
    with pytest.raises(ValidationError) as excinfo:
        validate_bank_account("30101810400000000225", "044030653")
    assert error_codes(excinfo) == ["bank_account_checksum"]
    with pytest.raises(ValidationError) as excinfo:
        validate_bank_account("30101810500000000653", "044525225")
    assert error_codes(excinfo) == ["bank_account_checksum"]


@PROPERTY
@given(pair=valid_bic_and_account(), data=st.data())
def test_settlement_accounts_built_by_the_algorithm(pair, data):
    bic, account = pair
    assert validate_bic(bic) == bic
    assert validate_bank_account(account, bic) == account
    # Every weight (7, 1, 3) is coprime to 10: any single-digit change is caught.
    _position, changed = data.draw(st.sampled_from(single_digit_changes(account)))
    with pytest.raises(ValidationError) as excinfo:
        validate_bank_account(changed, bic)
    assert error_codes(excinfo) == ["bank_account_checksum"]


@pytest.mark.parametrize(
    "raw", ["", "3010181040000000022", "301018104000000002250", "3010181040000000022X", "²" * 20]
)
def test_account_of_wrong_shape_is_refused(raw):
    with pytest.raises(ValidationError) as excinfo:
        validate_bank_account(raw, "044525225")
    assert error_codes(excinfo) == ["invalid_bank_account"]


# ---------------------------------------------------------------- search key


def test_search_key_folds_case_yo_and_spaces():
    assert search_key("Ёлкин", "ПЁТР", "  Семёнович ") == "елкин петр семенович"
    assert search_key("", "Иванова", "", "Анна") == "иванова анна"
    assert search_key() == ""


RUSSIAN_LETTERS = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"


@PROPERTY
@given(parts=st.lists(st.text(alphabet=RUSSIAN_LETTERS + "abcXYZ -\t", max_size=20), max_size=4))
def test_search_key_is_the_same_for_any_case_and_e_or_yo(parts):
    key = search_key(*parts)
    assert key == search_key(*[p.upper() for p in parts])
    assert key == search_key(*[p.replace("е", "ё").replace("Е", "Ё") for p in parts])
    assert "ё" not in key and key == key.lower()
    assert "  " not in key and key == key.strip()
    assert search_key(key) == key


def test_a_number_whose_e164_does_not_read_back_is_not_valid():
    # Found by the property above: Belarus's "8 810…" gave +3758100000000, which parses back
    # as another (invalid) number, so the stored phone could never be found or re-saved.
    assert try_normalize_phone("8 810 000 00 00", "BY") is None
    with pytest.raises(ValidationError):
        normalize_phone("88100000000", "BY")
    assert try_normalize_phone("8 017 123 45 67", "BY") == normalize_phone("+375171234567")
