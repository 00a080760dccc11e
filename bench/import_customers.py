"""Customer file import, full pipeline: a messy 1M-row Russian CSV into an empty SQLite base.

    .venv/bin/python bench/import_customers.py [--rows 1000000] [--keep]

Generates the file once (var/bench-import/customers-<rows>.csv, cp1251, ";"): full names in
both orders, phones in many national formats (8 (916)..., +7..., 7916..., 916..., with
spaces, dashes, dots, quote-prefixed), e-mails with stray case and spaces, birthdays in three
date forms, cities, tags; about 2 % invalid values (bad phone, bad e-mail, impossible date: the
row is imported without them, with a warning) or rows with no contact at all (rejected), 3 %
duplicates of earlier rows (the same person: same e-mail and phone, other spelling, the name
in either order) and 0.5 % family members sharing an earlier row's phone (new customers).
Then runs `clientbase import customers FILE --json` in a fresh base with the backup off and
prints rows/s and the peak memory of the importing process (its maximum resident set).
A second run of the same file measures "re-import changes nothing".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import time
from pathlib import Path

from _base import CLIENTBASE, ROOT, sqlite_env

LAST = [
    "Иванов",
    "Петров",
    "Сидоров",
    "Кузнецов",
    "Смирнов",
    "Попов",
    "Волков",
    "Соколов",
    "Лебедев",
    "Козлов",
    "Новиков",
    "Морозов",
    "Павлов",
    "Фёдоров",
    "Орлов",
    "Ёлкин",
]
FIRST = ["Иван", "Пётр", "Алексей", "Сергей", "Дмитрий", "Андрей", "Михаил", "Николай"]
WIVES = ["Иванова", "Петрова", "Сидорова", "Кузнецова", "Смирнова", "Попова", "Волкова"]
WOMEN = ["Ирина", "Марина", "Анна", "Ольга", "Елена", "Татьяна"]
MIDDLE = ["Иванович", "Петрович", "Сергеевич", "Алексеевич", "Дмитриевич", ""]
CITIES = ["Москва", "Санкт-Петербург", "Казань", "Новосибирск", "Екатеринбург", "Омск", ""]
DOMAINS = ["mail.ru", "yandex.ru", "gmail.com", "bk.ru", "list.ru", "inbox.ru"]
TAGS = ["vip", "опт", "новый", "розница", ""]


def phone_text(rng: random.Random, number: int) -> str:
    digits = f"9{number % 1_000_000_000:09d}"
    a, b, c, d = digits[:3], digits[3:6], digits[6:8], digits[8:]
    forms = [
        f"8 ({a}) {b}-{c}-{d}",
        f"+7 {a} {b}-{c}-{d}",
        f"7{digits}",
        f"8{digits}",
        f"+7({a}){b}{c}{d}",
        f"{a} {b} {c} {d}",
        f"'+7 {a} {b} {c} {d}",
        f"8.{a}.{b}.{c}.{d}",
    ]
    return rng.choice(forms)


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    header = "ФИО;Моб. телефон;Доп. телефон;Эл. почта;Дата рождения;Город;Теги;Примечание\n"
    earlier: list[tuple[str, str, tuple[str, str, str]]] = []
    with path.open("w", encoding="cp1251", newline="") as out:
        out.write(header)
        for i in range(rows):
            roll = rng.random()
            last, first, middle = rng.choice(LAST), rng.choice(FIRST), rng.choice(MIDDLE)
            name = f"{last} {first} {middle}".strip() if rng.random() < 0.8 else f"{first} {last}"
            phone = phone_text(rng, 100_000_000 + i * 7919)
            email = f"{'User' if rng.random() < 0.2 else 'user'}{i}@{rng.choice(DOMAINS)}"
            if rng.random() < 0.1:
                email = f"  {email} "
            day = rng.randint(1, 28)
            month = rng.randint(1, 12)
            year = rng.randint(1950, 2005)
            birthday = rng.choice(
                [f"{day:02d}.{month:02d}.{year}", f"{year}-{month:02d}-{day:02d}", ""]
            )
            second = phone_text(rng, 200_000_000 + i * 104_729) if rng.random() < 0.15 else ""
            if roll < 0.005:
                phone = "12345"
            elif roll < 0.01:
                email = "no-at-sign.example.ru"
            elif roll < 0.015:
                birthday = "31.02.1990"
            elif roll < 0.02:
                phone, email, name = "", "", ""
            elif roll < 0.05 and earlier:
                # The same person again: their contacts, and their name (in either order).
                phone, email, (last, first, middle) = rng.choice(earlier)
                name = (
                    f"{last} {first} {middle}".strip() if rng.random() < 0.5 else f"{first} {last}"
                )
            elif roll < 0.055 and earlier:
                # A family: someone else with the same phone (a separate customer).
                phone = rng.choice(earlier)[0]
                email = f"family{i}@{rng.choice(DOMAINS)}"
                name = f"{rng.choice(WIVES)} {rng.choice(WOMEN)}"
            if i % 50 == 0 and len(earlier) < 20_000:
                earlier.append((phone, email, (last, first, middle)))
            note = "позвонить вечером" if rng.random() < 0.05 else ""
            row = [name, phone, second, email, birthday, rng.choice(CITIES), rng.choice(TAGS), note]
            out.write(";".join(row) + "\n")


def import_once(env: dict[str, str], path: Path) -> tuple[dict[str, object], float, float, float]:
    """One `clientbase import` process: its JSON, wall seconds, peak MB and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        [CLIENTBASE, "import", "customers", str(path), "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mb = after.ru_maxrss / 1024
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(proc.stdout), seconds, peak_mb, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    folder = ROOT / "var" / "bench-import"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"customers-v2-{args.rows}.csv"
    if not path.exists():
        started = time.perf_counter()
        generate(path, args.rows)
        print(f"generated {path} in {time.perf_counter() - started:.1f} s")
    size_mb = path.stat().st_size / 1024 / 1024
    data_dir = folder / "base"
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {**sqlite_env(data_dir), "IMPORT_BACKUP": "false"}
    # Migrations run in their own process before, so the peak below is the import's.
    subprocess.run([CLIENTBASE, "migrate", "--no-input", "-v0"], env=env, check=True)
    result, seconds, peak, cpu = import_once(env, path)
    rows = int(result["rows"])  # type: ignore[call-overload]
    print(
        f"import {rows:,} rows ({size_mb:.0f} MB, {result['encoding']}, "
        f"'{result['delimiter']}'): {seconds:.1f} s = {rows / seconds:,.0f} rows/s; "
        f"CPU {cpu:.1f} s; peak memory {peak:.0f} MB; load average {os.getloadavg()[0]:.1f}"
    )
    print(
        "  created {created:,}, updated {updated:,}, unchanged {unchanged:,}, "
        "rejected {rejected:,}, with a warning {warned}".format(**{"warned": "-", **result})
    )
    again, seconds, peak, cpu = import_once(env, path)
    print(
        f"re-import of the same file: {seconds:.1f} s = {rows / seconds:,.0f} rows/s; "
        f"CPU {cpu:.1f} s; "
        "created {created:,}, updated {updated:,}, unchanged {unchanged:,}, "
        "rejected {rejected:,}".format(**again)
    )


if __name__ == "__main__":
    main()
