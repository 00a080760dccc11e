"""Web UI of imports: upload, column mapping, dry run, the job with its progress, undo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clientbase.accounts.permissions import Perm, owner_or_admin, requires
from clientbase.core import audit
from clientbase.core.choices import AuditAction
from clientbase.core.errors import DomainError
from clientbase.core.file_fields import fields_for
from clientbase.imports import selectors, services, tasks
from clientbase.imports.choices import ImportStatus
from clientbase.imports.forms import ImportMappingForm, ImportUploadForm, SheetForm
from clientbase.imports.models import ImportJob

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CONFIGURABLE = (ImportStatus.UPLOADED, ImportStatus.PREVIEWED)
RUNNING = (ImportStatus.QUEUED, ImportStatus.RUNNING)
SYSTEM_NAMES = {
    "shopify": "Shopify",
    "woocommerce": "WooCommerce",
    "insales": "InSales",
    "tilda": "Tilda",
    "mailchimp": "Mailchimp",
    "brevo": "Brevo",
    "bitrix24": "Bitrix24",
    "amocrm": "amoCRM",
    "retailcrm": "RetailCRM",
}


def _job(request: HttpRequest, job_id: int) -> ImportJob:
    """The job, for the one who ran it or an administrator; 404 for anyone else (no hint it
    exists): its samples, rejected rows and error file are personal data."""
    job = get_object_or_404(ImportJob.objects.select_related("created_by", "undone_by"), pk=job_id)
    if not owner_or_admin(request.user, job.created_by_id):
        raise Http404
    return job


def _delimiter_name(delimiter: str) -> str:
    names = {
        ",": _("comma"),
        ";": _("semicolon"),
        "\t": _("tab"),
        "|": _("vertical bar"),
    }
    return names.get(delimiter, delimiter)


def _confidence(value: float) -> tuple[str, str]:
    """(Bootstrap colour, word) of a recognition's confidence."""
    if value >= 0.9:
        return "success", _("sure")
    if value >= 0.6:
        return "warning", _("likely")
    if value > 0:
        return "secondary", _("guess")
    return "light", _("not recognised")


def _reason(reason: str) -> str:
    return {
        "synonym": _("by the header"),
        "system": _("known export format"),
        "content": _("by the values"),
    }.get(reason, "")


@requires(Perm.IMPORT_RUN)
@require_GET
def import_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "imports/import_list.html", {"jobs": selectors.import_job_list(user=request.user)}
    )


def _too_big(request: HttpRequest) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    # Room for the form's other fields and the multipart boundaries.
    return length > settings.IMPORT_MAX_FILE_MB * 1024 * 1024 + 64 * 1024


@requires(Perm.IMPORT_RUN)
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    """Store the file and recognise its columns; a file that cannot be read creates no job."""
    posted = request.method == "POST"
    if posted and _too_big(request):
        # Refused before Django reads the body: a huge upload never reaches the disk.
        messages.error(
            request,
            _("The file is bigger than %(mb)d MB, the largest an import accepts.")
            % {"mb": settings.IMPORT_MAX_FILE_MB},
        )
        return render(
            request, "imports/import_upload.html", {"form": ImportUploadForm()}, status=413
        )
    form = ImportUploadForm(request.POST if posted else None, request.FILES if posted else None)
    if posted and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = services.import_job_create(
                actor=request.user,
                kind=form.cleaned_data["kind"],
                source=upload,
                original_name=upload.name,
            )
        except DomainError as exc:
            form.add_error("file", exc.message)
        else:
            return redirect("imports:import_mapping", job_id=job.pk)
    return render(request, "imports/import_upload.html", {"form": form})


def _mapping_context(job: ImportJob, form: ImportMappingForm) -> dict[str, Any]:
    recognition = {int(column["index"]): column for column in job.recognition}
    labels = {key: str(target.label) for key, target in fields_for(job.kind).items()}
    columns = []
    for index, header in enumerate(job.headers):
        guess = recognition.get(index, {})
        confidence = float(guess.get("confidence") or 0) if guess.get("field") else 0.0
        colour, word = _confidence(confidence)
        columns.append(
            {
                "index": index,
                "number": index + 1,
                "header": header,
                "samples": guess.get("samples", []),
                "field": form.column(index),
                "recognised": labels.get(guess.get("field") or "", ""),
                "recognised_key": guess.get("field") or "",
                "confidence": confidence,
                "colour": colour,
                "word": word,
                "reason": _reason(str(guess.get("reason") or "")),
            }
        )
    system = job.preview.get("system") or ""
    return {
        "job": job,
        "form": form,
        "columns": columns,
        "match_fields": [form["match_1"], form["match_2"], form["match_3"]],
        "sheet_form": SheetForm(job) if len(job.sheets) > 1 else None,
        "system": SYSTEM_NAMES.get(system, system.title()),
        "saved_mapping": job.preview.get("saved_mapping") or "",
        "delimiter": _delimiter_name(job.delimiter),
    }


@requires(Perm.IMPORT_RUN)
@require_http_methods(["GET", "POST"])
def import_mapping(request: HttpRequest, job_id: int) -> HttpResponse:
    """Columns with what they were matched to; "Check" runs a dry run, "Import now" the import."""
    job = _job(request, job_id)
    if job.status not in CONFIGURABLE or services.preview_pending(job):
        return redirect("imports:import_detail", job_id=job.pk)
    if request.method == "POST" and request.POST.get("action") == "sheet":
        sheet_form = SheetForm(job, request.POST)
        if sheet_form.is_valid():
            try:
                services.import_job_configure(
                    actor=request.user, job_id=job.pk, sheet=sheet_form.cleaned_data["sheet"]
                )
            except DomainError as exc:
                messages.error(request, exc.message)
        return redirect("imports:import_mapping", job_id=job.pk)

    posted = request.method == "POST"
    form = ImportMappingForm(job, request.POST if posted else None)
    if posted and form.is_valid():
        action = request.POST.get("action")
        try:
            job = services.import_job_configure(
                actor=request.user,
                job_id=job.pk,
                mapping=form.mapping(),
                mode=form.cleaned_data["mode"],
                match_by=form.match_by(),
                save_as=form.cleaned_data["save_as"],
            )
            if action == "start":
                job = _start(request, job.pk)
                return redirect("imports:import_detail", job_id=job.pk)
            job = services.import_job_preview_start(actor=request.user, job_id=job.pk)
            if services.preview_pending(job):
                pending_id = job.pk
                transaction.on_commit(lambda: tasks.import_preview_run(pending_id))
                return redirect("imports:import_detail", job_id=job.pk)
            return redirect("imports:import_preview", job_id=job.pk)
        except DomainError as exc:
            form.add_error(None, exc.message)
            job.refresh_from_db()
    return render(request, "imports/import_mapping.html", _mapping_context(job, form))


@requires(Perm.IMPORT_RUN)
@require_GET
def import_preview(request: HttpRequest, job_id: int) -> HttpResponse:
    """The dry run's counts, examples and rejected rows, before anything is written."""
    job = _job(request, job_id)
    if job.status == ImportStatus.UPLOADED:
        return redirect("imports:import_mapping", job_id=job.pk)
    if job.status != ImportStatus.PREVIEWED:
        return redirect("imports:import_detail", job_id=job.pk)
    report = job.preview
    context = {
        "job": job,
        "report": report,
        "examples": selectors.examples_for_screen(job.kind, report.get("examples") or {}),
        "rejects": report.get("rejects") or [],
        "warnings": report.get("warnings") or [],
        "download": (
            reverse("imports:import_errors", args=[job.pk]) + "?dry_run=1"
            if report.get("error_file")
            else ""
        ),
    }
    return render(request, "imports/import_preview.html", context)


def _start(request: HttpRequest, job_id: int) -> ImportJob:
    """Start the import: a small file runs now, a big one is queued for the worker."""
    job = services.import_job_start(actor=request.user, job_id=job_id)
    if job.status == ImportStatus.QUEUED:
        transaction.on_commit(lambda: tasks.import_run(job_id))
    return job


@requires(Perm.IMPORT_RUN)
@require_POST
def import_start(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    try:
        _start(request, job.pk)
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("imports:import_detail", job_id=job.pk)


def _status_context(job: ImportJob) -> dict[str, Any]:
    labels = {key: str(target.label) for key, target in fields_for(job.kind).items()}
    percent = 0
    if job.rows_total:
        percent = min(100, round(100 * job.rows_done / job.rows_total))
    return {
        "job": job,
        "running": job.status in RUNNING or services.preview_pending(job),
        "checking": services.preview_pending(job),
        "percent": percent,
        "counts": {
            "created": job.rows_created,
            "updated": job.rows_updated,
            "unchanged": job.rows_unchanged,
            "duplicates": (job.report or {}).get("duplicates", 0),
            "rejected": job.rows_rejected,
            "warned": job.rows_warned,
        },
        "rejects": (job.report or {}).get("rejects") or [],
        "warnings": (job.report or {}).get("warnings") or [],
        "undo": job.undo_report or {},
        "conflicts": selectors.undo_conflicts(job),
        "mapping": [
            (job.headers[int(index)] if int(index) < len(job.headers) else index, labels.get(key))
            for index, key in sorted(job.mapping.items(), key=lambda item: int(item[0]))
        ],
    }


@requires(Perm.IMPORT_RUN)
@require_GET
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    return render(request, "imports/import_detail.html", _status_context(job))


@requires(Perm.IMPORT_RUN)
@require_GET
def import_status(request: HttpRequest, job_id: int) -> HttpResponse:
    """The job's status block alone, polled by its page while the import runs."""
    job = _job(request, job_id)
    response = render(request, "imports/_import_status.html", _status_context(job))
    if (
        request.headers.get("HX-Request")
        and job.status not in RUNNING
        and not services.preview_pending(job)
    ):
        # The run ended: reload the whole page, whose badge and details changed as well.
        response["HX-Refresh"] = "true"
    patch_vary_headers(response, ["HX-Request"])
    return response


@requires(Perm.IMPORT_RUN)
@require_http_methods(["GET", "POST"])
def import_undo(request: HttpRequest, job_id: int) -> HttpResponse:
    """GET asks to confirm; POST removes what the import created and restores what it changed."""
    job = _job(request, job_id)
    if request.method == "POST":
        try:
            job = services.import_job_undo(actor=request.user, job_id=job.pk)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            if job.undo_report.get("conflicts"):
                messages.warning(
                    request,
                    _("The import was undone, except for records edited since; see the list."),
                )
            else:
                messages.success(request, _("The import was undone."))
        return redirect("imports:import_detail", job_id=job.pk)
    if job.status != ImportStatus.DONE:
        return redirect("imports:import_detail", job_id=job.pk)
    return render(request, "imports/import_undo.html", {"job": job})


def _error_file(job: ImportJob, *, dry_run: bool) -> Path | None:
    """The job's (or its dry run's) error file, only if it really lies under DATA_DIR."""
    relative = (job.preview or {}).get("error_file") if dry_run else job.error_file
    if not relative:
        return None
    root = Path(settings.DATA_DIR).resolve()
    path = (root / str(relative)).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


@requires(Perm.IMPORT_RUN)
@require_GET
def import_errors(request: HttpRequest, job_id: int) -> HttpResponseBase:
    """The rejected rows in the file's own format with an error column (personal data: audited)."""
    job = _job(request, job_id)
    dry_run = request.GET.get("dry_run") == "1"
    path = _error_file(job, dry_run=dry_run)
    if path is None:
        messages.error(request, _("This import has no file of rejected rows."))
        return redirect("imports:import_detail", job_id=job.pk)
    rejected = (job.preview or {}).get("rejected") if dry_run else job.rows_rejected
    audit.record(
        action=AuditAction.EXPORT,
        actor=request.user,
        obj=job,
        extra={"what": "import_errors", "dry_run": dry_run, "rows": rejected or 0},
    )
    if path.suffix == ".xlsx":
        content_type = XLSX_TYPE
    else:
        # The error file keeps the input's encoding; a BOM is part of the bytes, not the name.
        charset = (job.encoding or "utf-8").removesuffix("-sig")
        content_type = f"text/csv; charset={charset}"
    stem = Path(job.original_name).stem or "import"
    filename = f"{stem}-{_('errors')}{path.suffix}"
    return FileResponse(
        path.open("rb"), as_attachment=True, filename=filename, content_type=content_type
    )
