"""Web UI of exports: the export form of the customer list, a segment and the order list; export
jobs with their progress and download (each for the one who asked and administrators)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from clientbase.accounts.choices import Role
from clientbase.accounts.permissions import Perm, owner_or_admin, requires
from clientbase.core import audit
from clientbase.core.choices import AuditAction
from clientbase.core.formatting import format_number
from clientbase.exports import columns as catalogue
from clientbase.exports import selectors, services, tasks
from clientbase.exports.choices import ExportFormat, ExportKind, ExportStatus
from clientbase.exports.columns import ExportError
from clientbase.exports.forms import ExportForm
from clientbase.exports.models import ExportJob
from clientbase.segments.language import SegmentQueryError
from clientbase.segments.models import Segment

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Query parameters of the list pages that are not filters.
NOT_FILTERS = ("after", "before", "sort")


def _filters_from(request: HttpRequest) -> dict[str, Any]:
    """The list page's query string as a job keeps it: every value, lists kept as lists."""
    kept: dict[str, Any] = {}
    for key in request.GET:
        if key in NOT_FILTERS:
            continue
        values = [v for v in request.GET.getlist(key) if v != ""]
        if values:
            kept[key] = values if len(values) > 1 else values[0]
    return kept


def _own_job(request: HttpRequest, pk: int) -> ExportJob:
    """The job, for its creator or an administrator; 404 for anyone else (no hint it exists)."""
    job = get_object_or_404(ExportJob.objects.select_related("created_by"), pk=pk)
    if not owner_or_admin(request.user, job.created_by_id):
        raise Http404
    return job


def _export(
    request: HttpRequest,
    *,
    export_request: selectors.ExportRequest,
    title: str,
    back_url: str,
    name: str,
) -> HttpResponseBase:
    """The form on GET; on POST a download (small) or a background job (big)."""
    limit = settings.EXPORT_INLINE_MAX_ROWS
    form = ExportForm(export_request.kind, request.POST or None)
    try:
        queryset = selectors.export_queryset(export_request)
        count = selectors.count_up_to(queryset, limit)
    except (SegmentQueryError, ExportError) as exc:
        # An invalid filter is never dropped: the export is refused with the reason.
        messages.error(request, exc.message)
        return redirect(back_url)
    if request.method == "POST" and form.is_valid():
        codes = form.cleaned_data["values"] == "codes"
        columns = catalogue.resolve_columns(
            export_request.kind, form.cleaned_data["columns"], codes=codes
        )
        file_format = form.cleaned_data["file_format"]
        if count > limit:
            job = services.export_job_create(
                actor=request.user,
                request=export_request,
                columns=columns,
                file_format=file_format,
                codes=codes,
            )
            transaction.on_commit(lambda: tasks.export_run(job.pk))
            messages.info(
                request,
                _("More than %(limit)s rows: the file is being prepared in the background.")
                % {"limit": format_number(limit)},
            )
            return redirect("exports:detail", pk=job.pk)
        services.export_audit(
            actor=request.user,
            request=export_request,
            file_format=file_format,
            columns=columns,
            rows=count,
            via="web",
            codes=codes,
        )
        filename = services.export_filename(export_request.kind, file_format, suffix=name)
        response: HttpResponseBase
        if file_format == ExportFormat.XLSX:
            handle, _rows = services.export_xlsx_tempfile(export_request, columns)
            response = FileResponse(
                handle, as_attachment=True, filename=filename, content_type=XLSX_TYPE
            )
        else:
            response = StreamingHttpResponse(
                services.export_csv_stream(export_request, columns),
                content_type="text/csv; charset=utf-8",
            )
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    context = {
        "form": form,
        "title": title,
        "back_url": back_url,
        "count": count,
        "limit": limit,
        "over_limit": count > limit,
        "kind": export_request.kind,
    }
    return render(request, "exports/form.html", context)


@requires(Perm.CUSTOMER_EXPORT)
@require_http_methods(["GET", "POST"])
def export_customers(request: HttpRequest) -> HttpResponseBase:
    """The customer list as it is filtered (its query string), to a file."""
    filters = _filters_from(request)
    back = reverse("customers:list") + (f"?{request.GET.urlencode()}" if request.GET else "")
    return _export(
        request,
        export_request=selectors.ExportRequest(kind=ExportKind.CUSTOMERS, filters=filters),
        title=_("Export customers") if not filters else _("Export the filtered customers"),
        back_url=back,
        name="",
    )


@requires(Perm.CUSTOMER_EXPORT)
@require_http_methods(["GET", "POST"])
def export_segment(request: HttpRequest, pk: int) -> HttpResponseBase:
    segment = get_object_or_404(Segment, pk=pk)
    return _export(
        request,
        export_request=selectors.ExportRequest(
            kind=ExportKind.CUSTOMERS, filters={}, segment_id=segment.pk
        ),
        title=_("Export segment “%(name)s”") % {"name": segment.name},
        back_url=reverse("segments:detail", args=[segment.pk]),
        name=f"segment-{segment.pk}",
    )


@requires(Perm.CUSTOMER_EXPORT)
@require_http_methods(["GET", "POST"])
def export_orders(request: HttpRequest) -> HttpResponseBase:
    """The order list as it is filtered (its query string: search, status, manager, dates,
    customer), to a file: the same orders the list shows."""
    filters = _filters_from(request)
    back = reverse("orders:list") + (f"?{request.GET.urlencode()}" if request.GET else "")
    return _export(
        request,
        export_request=selectors.ExportRequest(kind=ExportKind.ORDERS, filters=filters),
        title=_("Export orders") if not filters else _("Export the filtered orders"),
        back_url=back,
        name="",
    )


@requires(Perm.CUSTOMER_EXPORT)
@require_GET
def export_list(request: HttpRequest) -> HttpResponse:
    """My exports (an administrator sees everyone's), newest first."""
    user: Any = request.user
    jobs = ExportJob.objects.select_related("created_by")
    if user.role != Role.ADMIN:
        jobs = jobs.filter(created_by=user)
    return render(request, "exports/list.html", {"jobs": jobs[:50]})


def _job_context(job: ExportJob) -> dict[str, Any]:
    return {
        "job": job,
        "running": job.status in (ExportStatus.QUEUED, ExportStatus.RUNNING),
        "file_kept": services.export_job_file(job) is not None,
        "keep_days": services.KEEP_DAYS,
    }


@requires(Perm.CUSTOMER_EXPORT)
@require_GET
def export_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _own_job(request, pk)
    return render(request, "exports/detail.html", _job_context(job))


@requires(Perm.CUSTOMER_EXPORT)
@require_GET
def export_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The status block alone, polled by the job page while the job runs."""
    job = _own_job(request, pk)
    response = render(request, "exports/_status.html", _job_context(job))
    patch_vary_headers(response, ["HX-Request"])
    return response


@requires(Perm.CUSTOMER_EXPORT)
@require_GET
def export_download(request: HttpRequest, pk: int) -> HttpResponseBase:
    job = _own_job(request, pk)
    path = services.export_job_file(job)
    if path is None:
        if job.status == ExportStatus.DONE:
            messages.error(request, _("The file of this export has been deleted."))
        return redirect("exports:detail", pk=job.pk)
    audit.record_access(
        action=AuditAction.VIEW, actor=request.user, obj=job, extra={"via": "download"}
    )
    content_type = XLSX_TYPE if job.file_format == ExportFormat.XLSX else "text/csv; charset=utf-8"
    filename = services.export_filename(job.kind, job.file_format, suffix=f"job-{job.pk}")
    return FileResponse(
        path.open("rb"), as_attachment=True, filename=filename, content_type=content_type
    )


@requires(Perm.CUSTOMER_EXPORT)
def moved_to_exports(request: HttpRequest, rest: str = "") -> HttpResponseRedirect:
    """/imports/exports/… is now /exports/…: bookmarks and links in old messages still work.

    A GET is redirected with 302; anything else with 307, which keeps the method and the body,
    so an export form posted from a page opened before the move still exports.
    """
    target = reverse("exports:list") + rest
    if request.GET:
        target += "?" + request.GET.urlencode()
    response = HttpResponseRedirect(target)
    if request.method not in ("GET", "HEAD"):
        response.status_code = 307
    return response
