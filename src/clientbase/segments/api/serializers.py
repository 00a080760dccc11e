"""Serializers of the segments API."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from clientbase.segments.models import Segment


class SegmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    query = serializers.CharField()
    kind = serializers.ChoiceField(choices=Segment.Kind.choices)
    count = serializers.IntegerField(
        allow_null=True, help_text=_("Customers matching now; null if the query no longer parses.")
    )
    frozen_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
