"""Web UI of exports: the export form of the customer list, a segment and the order list; export
jobs with their progress and download."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from clientbase.accounts.choices import Role
from clientbase.accounts.permissions import Perm, requires
from clientbase.core import audit
from clientbase.core.choices import AuditAction
from clientbase.core.formatting import format_number
from clientbase.core.forms import BootstrapMixin
from clientbase.imports import exports
from clientbase.imports.choices import ExportFormat, ExportStatus, ImportKind
from clientbase.imports.models import ExportJob
from clientbase.segments.language import SegmentQueryError
from clientbase.segments.models import Segment

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Query parameters of the list pages that are not filters.
NOT_FILTERS = ("after", "before", "sort")


class ExportForm(BootstrapMixin, forms.Form):
    file_format = forms.ChoiceField(
        label=gettext_lazy("Format"),
        choices=ExportFormat.choices,
        initial=ExportFormat.XLSX,
        widget=forms.RadioSelect,
        help_text=gettext_lazy(
            "XLSX opens in Excel with phones and dates as they are; CSV (UTF-8, semicolons) "
            "is for other programs."
        ),
    )
    columns = forms.MultipleChoiceField(
        label=gettext_lazy("Columns"), widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, kind: str, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        columns = self.fields["columns"]
        assert isinstance(columns, forms.MultipleChoiceField)
        columns.choices = [(c.key, c.label) for c in exports.COLUMNS[kind]]
        columns.initial = exports.default_columns(kind)
        # Radios and checkboxes are laid out by the template, not styled as one control.
        for name in ("file_format", "columns"):
            self.fields[name].widget.attrs.pop("class", None)


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


def _may_see(request: HttpRequest, job: ExportJob) -> bool:
    user: Any = request.user
    return job.created_by_id == user.pk or user.role == Role.ADMIN


def _own_job(request: HttpRequest, pk: int) -> ExportJob:
    """The job, for its creator or an administrator; 404 for anyone else (no hint it exists)."""
    job = get_object_or_404(ExportJob.objects.select_related("created_by"), pk=pk)
    if not _may_see(request, job):
        raise Http404
    return job


def _export(
    request: HttpRequest,
    *,
    export_request: exports.ExportRequest,
    title: str,
    back_url: str,
    name: str,
) -> HttpResponseBase:
    """The form on GET; on POST a download (small) or a background job (big)."""
    limit = settings.EXPORT_INLINE_MAX_ROWS
    form = ExportForm(export_request.kind, request.POST or None)
    try:
        queryset = exports.export_queryset(export_request)
        count = exports.count_up_to(queryset, limit)
    except (SegmentQueryError, exports.OrderFilterError) as exc:
        messages.error(request, exc.message)
        return redirect(back_url)
    if request.method == "POST" and form.is_valid():
        columns = exports.resolve_columns(export_request.kind, form.cleaned_data["columns"])
        file_format = form.cleaned_data["file_format"]
        if count > limit:
            job = exports.export_job_create(
                actor=request.user,
                request=export_request,
                columns=columns,
                file_format=file_format,
            )
            messages.info(
                request,
                _("More than %(limit)s rows: the file is being prepared in the background.")
                % {"limit": format_number(limit)},
            )
            return redirect("imports:export_detail", pk=job.pk)
        exports.export_audit(
            actor=request.user,
            request=export_request,
            file_format=file_format,
            columns=columns,
            rows=count,
            via="web",
        )
        filename = exports.export_filename(export_request.kind, file_format, suffix=name)
        response: HttpResponseBase
        if file_format == ExportFormat.XLSX:
            handle, _rows = exports.export_xlsx_tempfile(export_request, columns)
            response = FileResponse(
                handle, as_attachment=True, filename=filename, content_type=XLSX_TYPE
            )
        else:
            response = StreamingHttpResponse(
                exports.export_csv_stream(export_request, columns),
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
    return render(request, "imports/export_form.html", context)


@requires(Perm.CUSTOMER_EXPORT)
@require_http_methods(["GET", "POST"])
def export_customers(request: HttpRequest) -> HttpResponseBase:
    """The customer list as it is filtered (its query string), to a file."""
    filters = _filters_from(request)
    back = reverse("customers:list") + (f"?{request.GET.urlencode()}" if request.GET else "")
    return _export(
        request,
        export_request=exports.ExportRequest(kind=ImportKind.CUSTOMERS, filters=filters),
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
        export_request=exports.ExportRequest(
            kind=ImportKind.CUSTOMERS, filters={}, segment_id=segment.pk
        ),
        title=_("Export segment “%(name)s”") % {"name": segment.name},
        back_url=reverse("segments:detail", args=[segment.pk]),
        name=f"segment-{segment.pk}",
    )


@requires(Perm.CUSTOMER_EXPORT)
@require_http_methods(["GET", "POST"])
def export_orders(request: HttpRequest) -> HttpResponseBase:
    """The order list as it is filtered (status, manager), to a file."""
    filters = {k: v for k, v in _filters_from(request).items() if k in exports.ORDER_FILTER_KEYS}
    back = reverse("orders:list") + (f"?{request.GET.urlencode()}" if request.GET else "")
    return _export(
        request,
        export_request=exports.ExportRequest(kind=ImportKind.ORDERS, filters=filters),
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
    return render(request, "imports/export_list.html", {"jobs": jobs[:50]})


def _job_context(job: ExportJob) -> dict[str, Any]:
    return {
        "job": job,
        "running": job.status in (ExportStatus.QUEUED, ExportStatus.RUNNING),
        "file_kept": exports.export_job_file(job) is not None,
        "keep_days": exports.KEEP_DAYS,
    }


@requires(Perm.CUSTOMER_EXPORT)
@require_GET
def export_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _own_job(request, pk)
    return render(request, "imports/export_detail.html", _job_context(job))


@requires(Perm.CUSTOMER_EXPORT)
@require_GET
def export_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The status block alone, polled by the job page while the job runs."""
    job = _own_job(request, pk)
    response = render(request, "imports/_export_status.html", _job_context(job))
    patch_vary_headers(response, ["HX-Request"])
    return response


@requires(Perm.CUSTOMER_EXPORT)
@require_GET
def export_download(request: HttpRequest, pk: int) -> HttpResponseBase:
    job = _own_job(request, pk)
    path = exports.export_job_file(job)
    if path is None:
        if job.status == ExportStatus.DONE:
            messages.error(request, _("The file of this export has been deleted."))
        return redirect("imports:export_detail", pk=job.pk)
    audit.record_access(
        action=AuditAction.VIEW, actor=request.user, obj=job, extra={"via": "download"}
    )
    content_type = XLSX_TYPE if job.file_format == ExportFormat.XLSX else "text/csv; charset=utf-8"
    filename = exports.export_filename(job.kind, job.file_format, suffix=f"job-{job.pk}")
    return FileResponse(
        path.open("rb"), as_attachment=True, filename=filename, content_type=content_type
    )
