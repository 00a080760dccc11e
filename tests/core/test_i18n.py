"""The Russian translation: complete, well-formed, compiled, and actually used by the UI."""

from __future__ import annotations

import gettext
import hashlib
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import django
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse
from django.utils.translation import get_language_info

import clientbase
from clientbase.accounts.choices import Role
from tests import factories

PACKAGE_DIR = Path(clientbase.__file__).resolve().parent
LOCALE_DIR = PACKAGE_DIR / "locale"
RU_DIR = LOCALE_DIR / "ru" / "LC_MESSAGES"
DJANGO_RU_MO = Path(django.__file__).parent / "conf" / "locale" / "ru" / "LC_MESSAGES" / "django.mo"

# printf-style placeholders (%(name)s, %(n)d, %(s).1f, %s) and str.format ones ({name}, {0}).
PLACEHOLDER = re.compile(
    r"%(?:\(\w+\))?[#0 +-]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[diouxXeEfFgGcrsa]"
    r"|\{\w*(?:![rsa])?(?::[^{}]*)?\}"
)
HTML_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


@dataclass
class Entry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def key(self) -> tuple[str | None, str, str | None]:
        return (self.msgctxt, self.msgid, self.msgid_plural)

    def label(self) -> str:
        ctx = f"[{self.msgctxt}] " if self.msgctxt else ""
        return f"line {self.line}: {ctx}{self.msgid!r}"


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES[m.group(1)], text)


def parse_po(path: Path) -> tuple[Entry, list[Entry]]:
    """A minimal PO reader (header, entries); obsolete (#~) entries are skipped."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int | None] | None = None

    def flush() -> None:
        nonlocal current
        if current is not None and (current.msgstr or current.msgid):
            entries.append(current)
        current = None

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            flush()
            continue
        if line.startswith("#~"):
            continue
        if line.startswith("#"):
            if current is not None and current.msgid:
                flush()
            if current is None:
                current = Entry(line=number)
            if line.startswith("#,"):
                current.flags.update(f.strip() for f in line[2:].split(",") if f.strip())
            continue
        match = re.fullmatch(r'(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+"(.*)"', line)
        if match:
            keyword, index, text = match.group(1), match.group(2), _unquote(match.group(3))
            if keyword in ("msgctxt", "msgid") and current is not None and current.msgstr:
                flush()
            if current is None:
                current = Entry(line=number)
            if keyword.startswith("msgstr"):
                target = ("msgstr", int(index) if index is not None else 0)
                current.msgstr[target[1]] = text
            else:
                target = (keyword, None)
                setattr(current, keyword, text)
            continue
        continuation = re.fullmatch(r'"(.*)"', line)
        assert continuation and current is not None and target, f"{path}:{number}: {raw!r}"
        text = _unquote(continuation.group(1))
        if target[0] == "msgstr":
            current.msgstr[target[1]] += text
        else:
            setattr(current, target[0], (getattr(current, target[0]) or "") + text)
    flush()
    headers = [e for e in entries if e.msgid == "" and e.msgctxt is None]
    assert len(headers) == 1, f"{path}: expected one header entry"
    return headers[0], [e for e in entries if e is not headers[0]]


def header_fields(header: Entry) -> dict[str, str]:
    pairs = (line.split(":", 1) for line in header.msgstr[0].splitlines() if ":" in line)
    return {name.strip().lower(): value.strip() for name, value in pairs}


def placeholders(text: str) -> Counter[str]:
    return Counter(PLACEHOLDER.findall(text.replace("%%", "")))


@pytest.fixture(scope="module")
def ru_po() -> tuple[Entry, list[Entry]]:
    path = RU_DIR / "django.po"
    assert path.is_file(), f"{path} is missing: run makemessages -l ru (see README)"
    return parse_po(path)


# (a) every entry translated, none fuzzy, placeholders and markup kept ---------------------------


def test_ru_catalogue_is_the_one_django_uses(ru_po):
    assert Path(settings.LOCALE_PATHS[0]).resolve() == LOCALE_DIR
    assert "ru" in dict(settings.LANGUAGES)


def test_ru_header_is_complete_and_matches_djangos_plural_rule(ru_po):
    header, entries = ru_po
    assert "fuzzy" not in header.flags, "the header is still marked fuzzy"
    fields = header_fields(header)
    assert fields["language"] == "ru"
    assert fields["content-type"].lower() == "text/plain; charset=utf-8"
    ours = re.sub(r"\s+", "", fields["plural-forms"])
    with DJANGO_RU_MO.open("rb") as fp:
        djangos = re.sub(r"\s+", "", gettext.GNUTranslations(fp).info()["plural-forms"])
    assert ours == djangos, "Plural-Forms must equal Django's own ru catalogue"
    assert entries, "the catalogue has no entries"


def test_every_ru_entry_is_translated_and_not_fuzzy(ru_po):
    header, entries = ru_po
    nplurals = int(re.search(r"nplurals\s*=\s*(\d+)", header_fields(header)["plural-forms"])[1])
    problems = []
    for entry in entries:
        if "fuzzy" in entry.flags:
            problems.append(f"{entry.label()} is fuzzy")
        expected_forms = list(range(nplurals)) if entry.msgid_plural is not None else [0]
        if sorted(entry.msgstr) != expected_forms:
            problems.append(f"{entry.label()} has forms {sorted(entry.msgstr)}")
        for index, text in entry.msgstr.items():
            if not text.strip():
                problems.append(f"{entry.label()} msgstr[{index}] is empty")
    assert not problems, "\n".join(problems)


def test_ru_translations_keep_placeholders_and_markup(ru_po):
    _, entries = ru_po
    problems = []
    for entry in entries:
        # Every Russian plural form serves several numbers (1, 21, 31…): each keeps the
        # placeholders of the English plural.
        source = entry.msgid if entry.msgid_plural is None else entry.msgid_plural
        for index, text in entry.msgstr.items():
            if placeholders(text) != placeholders(source):
                problems.append(
                    f"{entry.label()} msgstr[{index}] placeholders "
                    f"{sorted(placeholders(text).elements())} != "
                    f"{sorted(placeholders(source).elements())}"
                )
            if Counter(HTML_TAG.findall(text)) != Counter(HTML_TAG.findall(source)):
                problems.append(f"{entry.label()} msgstr[{index}] changes the HTML markup")
            if text.startswith("\n") != source.startswith("\n") or text.endswith(
                "\n"
            ) != source.endswith("\n"):
                problems.append(
                    f"{entry.label()} msgstr[{index}] changes leading/trailing newlines"
                )
    assert not problems, "\n".join(problems)


def test_placeholder_check_catches_a_lost_or_renamed_placeholder():
    assert placeholders("Customer “%(name)s” created.") == placeholders("Клиент «%(name)s» создан.")
    assert placeholders("%(n)d in %(s).1f s") == placeholders("%(n)d за %(s).1f с")
    assert placeholders("Customer “%(name)s” created.") != placeholders("Клиент создан.")
    assert placeholders("%(n)d customers") != placeholders("%(n)s клиентов")
    assert placeholders("{name} left") != placeholders("{имя} ушёл")
    assert placeholders("100%% sure") == placeholders("на 100%% уверен")


def test_parser_reads_plural_context_and_fuzzy_entries(tmp_path):
    path = tmp_path / "t.po"
    path.write_text(
        'msgid ""\nmsgstr ""\n"Language: ru\\n"\n\n'
        '#: a.py:1\n#, fuzzy, python-format\nmsgctxt "c"\nmsgid "a %(n)s"\n'
        'msgid_plural "b %(n)s"\nmsgstr[0] "x"\nmsgstr[1] ""\n"y"\n\n'
        '#~ msgid "old"\n#~ msgstr "старое"\n\nmsgid "q"\nmsgstr ""\n',
        encoding="utf-8",
    )
    header, entries = parse_po(path)
    assert header_fields(header)["language"] == "ru"
    assert [(e.msgctxt, e.msgid, e.msgid_plural, e.msgstr) for e in entries] == [
        ("c", "a %(n)s", "b %(n)s", {0: "x", 1: "y"}),
        (None, "q", None, {0: ""}),
    ]
    assert entries[0].flags == {"fuzzy", "python-format"}


# (b) the committed .mo says what the .po says ---------------------------------------------------


def test_compiled_ru_catalogue_matches_the_po(ru_po):
    header, entries = ru_po
    mo_path = RU_DIR / "django.mo"
    assert mo_path.is_file(), f"{mo_path} is missing: run msgfmt -o django.mo django.po"
    with mo_path.open("rb") as fp:
        compiled = gettext.GNUTranslations(fp)
    assert re.sub(r"\s+", "", compiled.info()["plural-forms"]) == re.sub(
        r"\s+", "", header_fields(header)["plural-forms"]
    )
    catalog = compiled._catalog
    expected: dict[object, str] = {}
    for entry in entries:
        msgid = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            expected[msgid] = entry.msgstr[0]
        else:
            expected.update({(msgid, i): text for i, text in entry.msgstr.items()})
    stale = {key: catalog.get(key) for key, text in expected.items() if catalog.get(key) != text}
    assert not stale, f"django.mo is out of date (recompile it) for: {sorted(map(str, stale))[:10]}"
    extra = set(catalog) - set(expected) - {""}
    assert not extra, f"django.mo holds entries the .po no longer has: {sorted(map(str, extra))}"
    # The public API agrees, plural rule included.
    plural = next(e for e in entries if e.msgid_plural is not None)
    for n, form in ((1, 0), (3, 1), (5, 2), (11, 2), (21, 0), (22, 1)):
        if plural.msgctxt is None:
            assert compiled.ngettext(plural.msgid, plural.msgid_plural, n) == plural.msgstr[form]


# (c) nothing marked for translation is missing from the catalogue -----------------------------


def _fresh_extraction(tmp_path: Path, monkeypatch, domain: str) -> Path:
    """Runs makemessages over a copy of the package, so the committed catalogue is untouched."""
    tree = tmp_path / "clientbase"
    shutil.copytree(
        PACKAGE_DIR,
        tree,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "locale", "migrations"),
    )
    (tree / "locale").mkdir()
    monkeypatch.chdir(tree)
    with override_settings(LOCALE_PATHS=[tree / "locale"]):
        call_command(
            "makemessages",
            locale=["ru"],
            domain=domain,
            ignore_patterns=["migrations/*"],
            verbosity=0,
        )
    return tree / "locale" / "ru" / "LC_MESSAGES" / f"{domain}.po"


def _digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_ru_catalogue_holds_every_marked_string(tmp_path, monkeypatch, domain):
    tools = ("xgettext", "msguniq", "msgmerge", "msgattrib")
    missing_tools = [tool for tool in tools if shutil.which(tool) is None]
    if missing_tools:
        pytest.skip(
            f"GNU gettext (xgettext) is not installed ({', '.join(missing_tools)} not on PATH); "
            "install it (Debian: apt-get install gettext) to check the catalogue is complete"
        )
    before = _digest(LOCALE_DIR)
    fresh_path = _fresh_extraction(tmp_path, monkeypatch, domain)
    assert _digest(LOCALE_DIR) == before, "the extraction must not touch the committed catalogue"

    fresh = parse_po(fresh_path)[1] if fresh_path.exists() else []
    if domain == "django":
        assert len(fresh) > 100, "the extraction found suspiciously few strings"
    committed_path = RU_DIR / f"{domain}.po"
    committed = {e.key for e in parse_po(committed_path)[1]} if committed_path.exists() else set()
    missing = [e.label().split(": ", 1)[1] for e in fresh if e.key not in committed]
    assert not missing, (
        f"{len(missing)} string(s) are marked for translation but missing from "
        f"locale/ru/LC_MESSAGES/{domain}.po (run makemessages -l ru, translate, recompile):\n"
        + "\n".join(missing)
    )


# (d) the UI speaks Russian, and English on request ---------------------------------------------


class _Text(HTMLParser):
    """The text a person sees or hears: text nodes plus labelling attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.fragments: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ("title", "aria-label", "placeholder", "alt") and value:
                self.fragments.append(value.strip())

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.fragments.append(" ".join(data.split()))


def visible_text(content: bytes) -> list[str]:
    parser = _Text()
    parser.feed(content.decode())
    return parser.fragments


# The language switcher names each language in that language.
LANGUAGE_NAMES = {get_language_info(code)["name_local"] for code, _ in settings.LANGUAGES}
NAVBAR_MSGIDS = ["Customers", "Tags", "Custom fields", "Audit log", "Staff", "Log out"]


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["accept-language", "cookie"])
def test_login_page_speaks_russian(how):
    client = Client()
    if how == "cookie":
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
        response = client.get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="en")
    else:
        response = client.get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 200
    text = visible_text(response.content)
    assert '<html lang="ru"' in response.content.decode()
    for russian in ("Войти", "Имя пользователя", "Пароль"):
        assert russian in text, f"{russian!r} not on the Russian log-in page: {text}"
    for english in ("Log in", "Username", "Password"):
        assert english not in text


@pytest.mark.django_db
def test_login_page_speaks_english_on_request():
    response = Client().get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    text = visible_text(response.content)
    for english in ("Log in", "Username", "Password"):
        assert english in text, f"{english!r} not on the English log-in page: {text}"
    assert not [f for f in text if re.search("[А-Яа-яЁё]", f) and f not in LANGUAGE_NAMES]


@pytest.mark.django_db
def test_russian_failed_log_in_error_is_russian():
    response = Client().post(
        reverse("accounts:login"),
        {"username": "nobody", "password": "wrong-password-1"},
        HTTP_ACCEPT_LANGUAGE="ru",
    )
    assert response.status_code == 200
    assert "Пожалуйста, введите правильные" in response.content.decode()


@pytest.mark.django_db
def test_customer_list_in_russian_has_no_english_left(ru_po):
    admin = factories.make_user(role=Role.ADMIN, username="i18n-admin")
    factories.make_customer(actor=admin, city="Казань", tags=["опт"])
    client = Client()
    client.force_login(admin)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    response = client.get(reverse("customers:list"))
    assert response.status_code == 200
    text = visible_text(response.content)
    for msgid in NAVBAR_MSGIDS:
        assert msgid not in text, f"navbar item {msgid!r} is not translated"
    for russian in ("Клиенты", "Теги", "Дополнительные поля", "Журнал аудита", "Сотрудники"):
        assert russian in text
    # No fragment of the page is an English msgid whose Russian text differs.
    english = {e.msgid for e in ru_po[1] if e.msgstr.get(0) and e.msgstr[0] != e.msgid}
    untranslated = sorted(set(text) & english - LANGUAGE_NAMES)
    assert not untranslated, f"untranslated on the Russian customer list: {untranslated}"


@pytest.mark.django_db
def test_customer_list_in_english_on_request():
    admin = factories.make_user(role=Role.ADMIN, username="i18n-admin-en")
    client = Client()
    client.force_login(admin)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    text = visible_text(client.get(reverse("customers:list")).content)
    for msgid in NAVBAR_MSGIDS:
        assert msgid in text
    assert "Журнал аудита" not in text
