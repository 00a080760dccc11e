"""Web UI of the segments app: list, editor with live count and visual builder, members, export."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clientbase.accounts.permissions import Perm, requires, user_has
from clientbase.core.formatting import format_number
from clientbase.customers.models import CustomFieldDefinition, Tag
from clientbase.exports.choices import ExportFormat, ExportKind
from clientbase.exports.selectors import ExportRequest
from clientbase.exports.services import export_audit
from clientbase.segments import export, selectors, services
from clientbase.segments.forms import SegmentForm
from clientbase.segments.language import (
    CUSTOM_TYPES,
    FIELDS,
    SegmentQueryError,
    builder_fields,
    builder_rows,
    describe,
    parse,
)
from clientbase.segments.models import Segment


def _query_state(text: str) -> dict[str, Any]:
    """Count, preview and error of a query, for the editor's live panel."""
    text = text.strip()
    if not text:
        return {"text": text}
    try:
        count = selectors.segment_count(text)
        preview = selectors.segment_preview(text)
    except SegmentQueryError as exc:
        position = min(exc.position, len(text))
        return {
            "text": text,
            "error": exc.message,
            "before": text[:position],
            "at": text[position : position + 1] or " ",
            "after": text[position + 1 :],
        }
    return {"text": text, "count": count, "preview": preview}


@requires(Perm.CUSTOMER_VIEW)
@require_GET
def segment_list(request: HttpRequest) -> HttpResponse:
    return render(request, "segments/list.html", {"segments": selectors.segment_list()})


@requires(Perm.CUSTOMER_VIEW)
@require_GET
def segment_count(request: HttpRequest, pk: int) -> HttpResponse:
    """A saved segment's live count (loaded by each row of the list)."""
    segment = get_object_or_404(Segment, pk=pk)
    count = services.segment_refresh_count(segment=segment)
    return HttpResponse(format_number(count))


@requires(Perm.CUSTOMER_VIEW)
@require_GET
def segment_preview(request: HttpRequest) -> HttpResponse:
    response = render(
        request,
        "segments/_preview.html",
        _query_state(request.GET.get("q") or request.GET.get("query") or ""),
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


@requires(Perm.CUSTOMER_VIEW)
@require_GET
def segment_fields(request: HttpRequest) -> JsonResponse:
    """The allowlist for the visual builder, with the custom fields of this base."""
    fields = builder_fields()
    for definition in CustomFieldDefinition.objects.all():
        kind = CUSTOM_TYPES.get(definition.field_type, "text")
        fields.append(
            {
                "name": f"custom.{definition.key}",
                "label": definition.label,
                "type": kind,
                "ops": ["=", "!="] if kind == "bool" else ["=", "!=", "<", "<=", ">", ">="],
                "choices": list(definition.choices or []),
                "labels": {choice: choice for choice in definition.choices or []},
            }
        )
    return JsonResponse({"fields": fields})


@requires(Perm.CUSTOMER_VIEW)
@require_GET
def segment_help(request: HttpRequest) -> HttpResponse:
    """The query language's reference, made from the field catalogue so it cannot drift."""
    fields = [
        {
            "name": spec.name,
            "aliases": spec.aliases,
            "label": spec.label,
            "ops": [*spec.ops, *(["within"] if spec.name == "birthday" else [])],
            "choices": spec.choices() if spec.choices else [],
        }
        for spec in FIELDS
    ]
    return render(request, "segments/help.html", {"fields": fields})


@requires(Perm.CUSTOMER_VIEW)
@require_GET
def segment_parse(request: HttpRequest) -> JsonResponse:
    """Query text -> builder rows when it is a flat and/or list; else "edit as text"."""
    text = request.GET.get("q", "")
    if not text.strip():
        return JsonResponse({"rows": [], "canonical": ""})
    try:
        node = parse(text)
    except SegmentQueryError as exc:
        return JsonResponse({"error": exc.message, "position": exc.position}, status=400)
    rows = builder_rows(node)
    body: dict[str, Any] = {"rows": rows, "canonical": describe(node)}
    if rows is None:
        body["message"] = _("This query is not a flat list of conditions: edit it as text.")
    return JsonResponse(body)


def _tags_query(names: list[str]) -> str:
    quoted = ['"' + n.replace("\\", "\\\\").replace('"', '\\"') + '"' for n in names]
    return " and ".join(f"tag = {q}" for q in quoted)


def _editor(request: HttpRequest, segment: Segment | None) -> HttpResponse:
    if request.method == "POST":
        form = SegmentForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            taken = services.segment_name_taken(
                data["name"], exclude_pk=segment.pk if segment else None
            )
            if taken:
                form.add_error("name", taken)
            else:
                try:
                    saved = services.segment_save(
                        actor=request.user,
                        segment=segment,
                        name=data["name"],
                        query=data["query"],
                        kind=data["kind"],
                        description=data["description"],
                    )
                except ValidationError as exc:
                    for field, errors in exc.message_dict.items():
                        for error in errors:
                            form.add_error(field if field in form.fields else None, error)
                else:
                    messages.success(
                        request,
                        ngettext(
                            "Segment “%(name)s” saved: %(n)s customer.",
                            "Segment “%(name)s” saved: %(n)s customers.",
                            saved.last_count or 0,
                        )
                        % {"name": saved.name, "n": format_number(saved.last_count or 0)},
                    )
                    return redirect("segments:detail", pk=saved.pk)
    elif segment is not None:
        form = SegmentForm(
            initial={
                "name": segment.name,
                "kind": segment.kind,
                "description": segment.description,
                "query": segment.query,
            }
        )
    else:
        chosen = [t for t in request.GET.getlist("tag") if t.strip()]
        form = SegmentForm(
            initial={
                "query": request.GET.get("q") or _tags_query(chosen),
                "name": ", ".join(chosen),
            }
        )
    query = form["query"].value() or ""
    context = {
        "form": form,
        "segment": segment,
        "state": _query_state(str(query)),
        "tags": Tag.objects.order_by("name"),
    }
    return render(request, "segments/form.html", context)


@requires(Perm.SEGMENT_MANAGE)
@require_http_methods(["GET", "POST"])
def segment_create(request: HttpRequest) -> HttpResponse:
    return _editor(request, None)


@requires(Perm.SEGMENT_MANAGE)
@require_http_methods(["GET", "POST"])
def segment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _editor(request, get_object_or_404(Segment, pk=pk))


@requires(Perm.SEGMENT_MANAGE)
@require_http_methods(["GET", "POST"])
def segment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    if request.method == "POST":
        services.segment_delete(actor=request.user, segment=segment)
        messages.success(request, _("Segment “%(name)s” deleted.") % {"name": segment.name})
        return redirect("segments:list")
    return render(request, "segments/delete.html", {"segment": segment})


@requires(Perm.CUSTOMER_VIEW)
@require_GET
def segment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A segment's members, by name, a page at a time, never counted in full here."""
    segment = get_object_or_404(Segment, pk=pk)
    error = ""
    try:
        page = selectors.segment_member_page(
            segment, after=request.GET.get("after", ""), before=request.GET.get("before", "")
        )
    except SegmentQueryError as exc:
        page, error = None, exc.message
    context = {
        "segment": segment,
        "page": page,
        "error": error,
        "can_export": user_has(request.user, Perm.CUSTOMER_EXPORT),
    }
    return render(request, "segments/detail.html", context)


@requires(Perm.CUSTOMER_EXPORT)
@require_GET
def segment_export(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    try:
        members = selectors.segment_members(segment)
        count = members.count()
    except SegmentQueryError as exc:
        messages.error(request, exc.message)
        return redirect("segments:detail", pk=pk)
    # The log keeps which segment and how many rows; never the rows themselves.
    export_audit(
        actor=request.user,
        request=ExportRequest(kind=ExportKind.CUSTOMERS, filters={}, segment_id=segment.pk),
        file_format=ExportFormat.CSV,
        columns=export.legacy_columns(),
        rows=count,
        via="web",
        codes=True,
    )
    response = StreamingHttpResponse(
        export.csv_rows(members), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="segment-{segment.pk}.csv"'
    return response


@requires(Perm.SEGMENT_MANAGE)
@require_POST
def segment_from_tags(request: HttpRequest) -> HttpResponse:
    """Tag combinations are just segments: open the editor with the chosen tags' query."""
    names = list(
        Tag.objects.filter(pk__in=[v for v in request.POST.getlist("tags") if v.isdigit()])
        .order_by("name")
        .values_list("name", flat=True)
    )
    if not names:
        messages.error(request, _("Choose at least one tag."))
        return redirect("segments:create")
    return redirect(reverse("segments:create") + "?" + urlencode([("tag", t) for t in names]))
