"""Forms of the segments app: a saved segment."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from clientbase.core.forms import BootstrapMixin
from clientbase.segments.models import Segment


class SegmentForm(BootstrapMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    kind = forms.ChoiceField(
        label=pgettext_lazy("segment", "Kind"),
        choices=Segment.Kind.choices,
        initial=Segment.Kind.DYNAMIC,
        help_text=_(
            "Dynamic: re-evaluated every time. Static: the customers matching now, frozen."
        ),
    )
    description = forms.CharField(label=_("Description"), max_length=300, required=False)
    query = forms.CharField(
        label=_("Query"),
        max_length=4000,
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "spellcheck": "false",
                "autocomplete": "off",
                "class": "font-monospace",
                "placeholder": 'kind = person and city = "Москва" and orders >= 3',
            }
        ),
    )
