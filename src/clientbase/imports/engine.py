"""The import pipeline: read a batch, normalise it, hand it to the kind's importer, commit.

Each batch is written in its own transaction together with its ImportBatch record, so a run
killed halfway leaves whole batches only, and a resumed run starts after the last one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import polars as pl
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbase.imports import sqlbulk
from clientbase.imports.choices import ImportKind, ImportStatus
from clientbase.imports.customer_import import CustomerImport, Outcome
from clientbase.imports.models import ImportBatch, ImportJob
from clientbase.imports.normalize import normalize_batch
from clientbase.imports.readers import Table, open_table
from clientbase.imports.rejects import RejectWriter

logger = logging.getLogger(__name__)

# Rejected rows kept in a report for the screen; all of them go to the error file.
REPORT_REJECTS = 50


class LeaseLostError(Exception):
    """Another worker took the job over; this run stops without writing its batch."""


class Importer(Protocol):
    def process(self, norm: pl.DataFrame) -> Outcome: ...

    def split_tail(self, norm: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(rows to process now, rows to hold for the next batch).

        An order's item rows may straddle a batch boundary; the order importer holds back
        the last order's rows so each order is written whole. Customers hold back nothing.
        """
        ...


def job_path(job: ImportJob) -> Path:
    return Path(settings.DATA_DIR) / job.file_path


def open_job_table(job: ImportJob) -> Table:
    return open_table(job_path(job), sheet=job.sheet or None)


def importer_for(job: ImportJob, *, write: bool) -> Importer:
    if job.kind == ImportKind.ORDERS:
        from clientbase.imports.order_import import OrderImport

        return OrderImport(job, write=write)
    return CustomerImport(job, write=write)


def column_mapping(job: ImportJob) -> dict[str, str]:
    return {f"c{int(index)}": key for index, key in job.mapping.items() if key}


class Totals:
    """Counts and examples over a whole run."""

    def __init__(self) -> None:
        self.created = self.updated = self.unchanged = self.duplicates = 0
        self.rejects: dict[int, str] = {}
        self.first_rejects: list[dict[str, Any]] = []
        self.warnings: dict[int, str] = {}
        self.first_warnings: list[dict[str, Any]] = []
        self.conflicts = 0
        self.examples: dict[str, list[dict[str, Any]]] = {}

    def add(self, outcome: Outcome) -> None:
        self.created += outcome.created
        self.updated += outcome.updated
        self.unchanged += outcome.unchanged
        self.duplicates += outcome.duplicates
        for row, column, value, reason in outcome.rejects:
            self.rejects[row] = f"{column}: {reason}" if column else reason
            if len(self.first_rejects) < REPORT_REJECTS:
                self.first_rejects.append(
                    {"row": row, "column": column, "value": value, "reason": reason}
                )
        self.conflicts += outcome.conflicts
        for row, text in warning_texts(outcome.warnings).items():
            self.warnings[row] = text
        for row, column, value, reason in outcome.warnings:
            if len(self.first_warnings) < REPORT_REJECTS:
                self.first_warnings.append(
                    {"row": row, "column": column, "value": value, "reason": reason}
                )
        for name, items in outcome.examples.items():
            bucket = self.examples.setdefault(name, [])
            bucket.extend(items[: max(0, 5 - len(bucket))])

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.unchanged + self.duplicates + len(self.rejects)

    def report(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            # Rows merged into an earlier row of the same file change nothing of their own.
            "unchanged": self.unchanged + self.duplicates,
            "duplicates": self.duplicates,
            "rejected": len(self.rejects),
            "warned": len(self.warnings),
            "conflicts": self.conflicts,
            "examples": self.examples,
            "rejects": sorted(self.first_rejects, key=lambda r: r["row"]),
            "warnings": sorted(self.first_warnings, key=lambda r: r["row"]),
        }


def warning_texts(warnings: list[tuple[int, str, str, str]]) -> dict[int, str]:
    """Row -> its warnings as one line for the error file's extra column."""
    texts: dict[int, list[str]] = {}
    for row, column, _value, reason in warnings:
        texts.setdefault(row, []).append(f"{column}: {reason}" if column else reason)
    return {
        row: _("Imported, but: %(warnings)s") % {"warnings": "; ".join(items)}
        for row, items in texts.items()
    }


def _batches(
    job: ImportJob, table: Table, start_row: int, importer: Importer
) -> Iterator[pl.DataFrame]:
    mapping = column_mapping(job)
    headers = {f"c{i}": h for i, h in enumerate(table.info.headers)}
    held: pl.DataFrame | None = None
    for raw in table.batches(size=settings.IMPORT_BATCH_ROWS, start_row=start_row):
        norm = normalize_batch(
            raw,
            mapping,
            job.kind,
            headers=headers,
            region=settings.DEFAULT_PHONE_REGION,
            # A customer row is imported without a value it cannot read (with a warning);
            # an order row with an unreadable value is rejected (its money must add up).
            lenient=job.kind == ImportKind.CUSTOMERS,
        )
        if held is not None and held.height:
            norm = pl.concat([held, norm], how="diagonal_relaxed")
        norm, held = importer.split_tail(norm)
        if norm.height:
            yield norm
    if held is not None and held.height:
        yield held


def dry_run(job: ImportJob) -> dict[str, Any]:
    """Everything the import would do, with nothing written; the error file is written."""
    totals = Totals()
    importer = importer_for(job, write=False)
    checked = 0
    with open_job_table(job) as table:
        for norm in _batches(job, table, 2, importer):
            totals.add(importer.process(norm))
            checked += norm.height
            # Progress for the page of a dry run in the background; reset when it ends.
            ImportJob.objects.filter(pk=job.pk).update(rows_done=checked)
    report = totals.report()
    report["error_file"] = write_error_file(
        job, {**totals.warnings, **totals.rejects}, suffix="dry-run"
    )
    return report


def run(job: ImportJob, *, stop_after_batches: int | None = None) -> ImportJob:
    """Import (or resume importing) the job's file. Returns the job, refreshed."""
    importer = importer_for(job, write=True)
    last = job.batches.order_by("-seq").first()
    seq = last.seq + 1 if last else 0
    start_row = last.last_row + 1 if last else 2
    done = 0
    lease = job.updated_at
    examples: dict[str, list[dict[str, Any]]] = dict(job.report.get("examples", {}))
    first_rejects: list[dict[str, Any]] = list(job.report.get("rejects", []))
    first_warnings: list[dict[str, Any]] = list(job.report.get("warnings", []))
    conflicts = int(job.report.get("conflicts", 0))
    with open_job_table(job) as table, _import_page_cache():
        for norm in _batches(job, table, start_row, importer):
            if norm.is_empty():
                continue
            with transaction.atomic():
                outcome = importer.process(norm)
                warned = warning_texts(outcome.warnings)
                rows = norm["__row"]
                ImportBatch.objects.create(
                    job=job,
                    seq=seq,
                    first_row=int(rows.min()),  # type: ignore[arg-type]
                    last_row=int(rows.max()),  # type: ignore[arg-type]
                    created_ranges=sqlbulk.ranges(outcome.created_ids),
                    created_customer_ranges=sqlbulk.ranges(outcome.created_customer_ids),
                    created=outcome.created,
                    updated=outcome.updated,
                    unchanged=outcome.unchanged + outcome.duplicates,
                    rejected=len(outcome.rejects),
                    rejects=[
                        [row, f"{col}: {why}" if col else why]
                        for row, col, _v, why in outcome.rejects
                    ],
                    warnings=[[row, text] for row, text in warned.items()],
                )
                # The job's updated_at is this run's lease: a worker that took the job over
                # (it looked stale) changed it, and then this batch is rolled back, so two
                # runs of one job never both write.
                now = timezone.now()
                kept = ImportJob.objects.filter(pk=job.pk, updated_at=lease).update(
                    rows_done=F("rows_done") + norm.height,
                    rows_created=F("rows_created") + outcome.created,
                    rows_updated=F("rows_updated") + outcome.updated,
                    rows_unchanged=F("rows_unchanged") + outcome.unchanged + outcome.duplicates,
                    rows_rejected=F("rows_rejected") + len(outcome.rejects),
                    rows_warned=F("rows_warned") + len(warned),
                    updated_at=now,
                )
                if not kept:
                    raise LeaseLostError(f"import {job.pk} was taken over by another worker")
                lease = now
            seq += 1
            done += 1
            for name, items in outcome.examples.items():
                bucket = examples.setdefault(name, [])
                bucket.extend(items[: max(0, 5 - len(bucket))])
            for row, column, value, reason in outcome.rejects:
                if len(first_rejects) < REPORT_REJECTS:
                    first_rejects.append(
                        {"row": row, "column": column, "value": value, "reason": reason}
                    )
            for row, column, value, reason in outcome.warnings:
                if len(first_warnings) < REPORT_REJECTS:
                    first_warnings.append(
                        {"row": row, "column": column, "value": value, "reason": reason}
                    )
            conflicts += outcome.conflicts
            if stop_after_batches is not None and done >= stop_after_batches:
                # Tests stop a run here to prove that a resumed run neither repeats nor skips.
                raise InterruptedError(f"stopped after {done} batches")
    job.refresh_from_db()
    rejects: dict[int, str] = {}
    for batch_warnings, batch_rejects in job.batches.values_list("warnings", "rejects"):
        rejects.update({int(row): text for row, text in batch_warnings})
        rejects.update({int(row): text for row, text in batch_rejects})
    job.error_file = write_error_file(job, rejects, suffix="errors")
    job.report = {
        "rows": job.rows_done,
        "created": job.rows_created,
        "updated": job.rows_updated,
        "unchanged": job.rows_unchanged,
        "rejected": job.rows_rejected,
        "warned": job.rows_warned,
        "conflicts": conflicts,
        "examples": examples,
        "rejects": sorted(first_rejects, key=lambda r: r["row"])[:REPORT_REJECTS],
        "warnings": sorted(first_warnings, key=lambda r: r["row"])[:REPORT_REJECTS],
    }
    return job


@contextlib.contextmanager
def _import_page_cache() -> Iterator[None]:
    """SQLite's page cache and memory map sized for an import, put back afterwards.

    Measured at a million rows: a page cache of 32 MB imports as fast as one of 128 MB (the
    OS keeps the file's pages anyway), and memory-mapped reads count every page the import
    touches in the process's memory; the budget is 500 MB for the whole import.
    """
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        previous = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA mmap_size")
        previous_mmap = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA cache_size = {-settings.IMPORT_SQLITE_CACHE_MB * 1024}")
        # Memory-mapped reads would map every page the import touches into the process;
        # the page cache above is the bounded place for them.
        cursor.execute("PRAGMA mmap_size = 0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {previous}")
            cursor.execute(f"PRAGMA mmap_size = {previous_mmap}")


def write_error_file(job: ImportJob, rejects: dict[int, str], *, suffix: str) -> str:
    """The rejected rows and those imported with a warning, as read, with the reason in an
    extra column; "" when none. Re-importing it after a fix updates the warned rows' customers.
    """
    if not rejects:
        return ""
    directory = job_path(job).parent
    with open_job_table(job) as table:
        target = directory / f"{suffix}"
        wanted = sorted(rejects)
        with RejectWriter(target, table.info, _("Import error")) as writer:
            for raw in table.batches(size=settings.IMPORT_BATCH_ROWS):
                hit = raw.filter(pl.col("__row").is_in(wanted))
                if hit.height:
                    writer.write(hit, [rejects[int(r)] for r in hit["__row"].to_list()])
            path = writer.path
    return str(Path(path).relative_to(settings.DATA_DIR))


def mark_failed(job: ImportJob, message: str) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.FAILED, failure=message[:2000], finished_at=timezone.now()
    )
