"""`clientbase segment count`: the number, --json, and exit code 2 on a bad query."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.utils import translation


def test_count_prints_the_number(people, capsys):
    call_command("segment", "count", "kind = person")
    assert capsys.readouterr().out.strip() == "2"


def test_count_json(people, capsys):
    call_command("segment", "count", "тип = person и vip", "--json")
    assert json.loads(capsys.readouterr().out) == {
        "count": 1,
        "query": "kind = person and vip = true",
    }


def test_bad_query_prints_the_position_and_exits_2(db, capsys):
    with translation.override("en"), pytest.raises(SystemExit) as info:
        call_command("segment", "count", "orders >= x")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Expected a number after “>=” at position 11" in err
    assert "  orders >= x\n" in err
    assert "\n" + " " * 12 + "^" in err
