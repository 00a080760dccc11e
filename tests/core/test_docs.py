"""The documentation says what the code does: permission matrix, environment variables, README."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import translation

from clientbase.accounts.choices import Role
from clientbase.accounts.permissions import ROLE_PERMISSIONS, Perm

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """The documents are in English; the suite's default language is Russian."""
    with translation.override("en"):
        yield


def _matrix_rows(text: str) -> dict[str, list[str]]:
    section = text.split("## Matrix", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {
        line.split("`")[1]: [cell.strip() for cell in line.strip("|").split("|")[1:]]
        for line in rows
    }


def test_permissions_doc_matches_the_matrix_in_code() -> None:
    text = (ROOT / "docs/permissions.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| Permission |"))

    assert [c.strip() for c in header.strip("|").split("|")[1:]] == [
        str(role.label) for role in Role
    ]
    expected = {
        perm.value: ["✓" if perm in ROLE_PERMISSIONS[role] else "—" for role in Role]
        for perm in Perm
    }
    assert _matrix_rows(text) == expected


def test_permissions_doc_explains_every_permission() -> None:
    text = (ROOT / "docs/permissions.md").read_text()
    explained = text.split("## What each permission allows", 1)[1]

    for perm in Perm:
        assert f"| `{perm.value}` |" in explained, perm


def test_permissions_doc_roles_in_short_list_each_roles_permissions() -> None:
    text = (ROOT / "docs/permissions.md").read_text()
    section = text.split("## Roles in short", 1)[1].split("\n## ", 1)[0]
    bullets = re.findall(r"^- \*\*(.+?)\*\*(.*?)(?=^- |\Z)", section, re.M | re.S)
    listed = {name: set(re.findall(r"`([a-z]+\.[a-z]+)`", body)) for name, body in bullets}

    assert list(listed) == [str(role.label) for role in Role]
    for role in Role:
        if ROLE_PERMISSIONS[role] == frozenset(Perm):
            assert "every permission" in dict(bullets)[str(role.label)], role
        else:
            assert listed[str(role.label)] == {p.value for p in ROLE_PERMISSIONS[role]}, role


def test_deployment_doc_lists_every_environment_variable_of_settings() -> None:
    source = (ROOT / "src/clientbase/settings.py").read_text()
    names = set(re.findall(r'(?:environ\.get|_env_bool)\(\s*"([A-Z_]+)"', source))
    names |= set(re.findall(r'_persistent_secret\(\s*"[a-z_]+",\s*"([A-Z_]+)"', source))
    doc = (ROOT / "docs/deployment.md").read_text()

    assert {"DATABASE_URL", "SECRET_KEY", "ALLOWED_HOSTS", "REDIS_URL"} <= names
    missing = sorted(name for name in names if f"`{name}`" not in doc)
    assert missing == []


def test_deployment_doc_lists_only_variables_the_code_reads() -> None:
    """A documented variable that nothing reads (as EMAIL_URL was, with nothing to send mail)
    promises a feature the code does not have."""
    doc = (ROOT / "docs/deployment.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", doc, flags=re.MULTILINE))
    source = "\n".join(p.read_text() for p in (ROOT / "src/clientbase").rglob("*.py"))
    read = set(
        re.findall(r'(?:environ\.get\(|environ\[|_env_bool\(|getenv\()\s*"([A-Z_]+)"', source)
    )
    read |= set(re.findall(r'_persistent_secret\(\s*"[a-z_]+",\s*"([A-Z_]+)"', source))
    read |= set(re.findall(r'^[A-Z_]+_ENV = "([A-Z_]+)"', source, flags=re.MULTILINE))

    assert len(documented) > 30
    assert sorted(documented - read) == []
    assert "EMAIL_URL" not in doc


def test_readme_opens_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    first_block = lines[lines.index("```sh") + 1 : lines.index("```")]

    assert first_block == ["make run", "make test"]


def test_every_adr_has_a_status_and_a_decision() -> None:
    adrs = sorted((ROOT / "docs/adr").glob("[0-9][0-9][0-9][0-9]-*.md"))

    assert [p.name[:4] for p in adrs] == [f"{n:04d}" for n in range(1, len(adrs) + 1)]
    for adr in adrs:
        text = adr.read_text()
        assert "Status:" in text, adr.name
        assert "## Decision" in text, adr.name
