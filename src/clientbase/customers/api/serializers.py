"""Customer cards in and out of the API; document numbers only ever leave masked."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clientbase.accounts.models import User
from clientbase.analytics.choices import Importance, RfmSegment
from clientbase.customers.choices import (
    ConsentChannel,
    ConsentState,
    CustomerKind,
    CustomerStatus,
    DocumentType,
    Gender,
    PhoneKind,
    SourceChannel,
    StopListReason,
)
from clientbase.customers.models import Customer
from clientbase.customers.services import (
    EDITABLE_FIELDS,
    AddressInput,
    ConsentInput,
    CustomerInput,
    EmailInput,
    PhoneInput,
)
from clientbase.orders.models import CustomerStats

MAX_ID = 2**31 - 1


class PhoneSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=40, help_text=_("Any format; stored as E.164."))
    kind = serializers.ChoiceField(choices=PhoneKind.choices, default=PhoneKind.MOBILE)
    is_primary = serializers.BooleanField(default=False)


class EmailSerializer(serializers.Serializer):
    address = serializers.CharField(max_length=254)
    is_primary = serializers.BooleanField(default=False)


class AddressSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    postal_code = serializers.CharField(max_length=12, required=False, allow_blank=True, default="")
    region = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    city = serializers.CharField(max_length=100)
    line = serializers.CharField(max_length=300)
    comment = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    is_default = serializers.BooleanField(default=False)


class ConsentSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=ConsentChannel.choices)
    state = serializers.ChoiceField(choices=ConsentState.choices)
    source = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    changed_at = serializers.DateTimeField(read_only=True, allow_null=True)


class CustomerStatsSerializer(serializers.Serializer):
    orders_count = serializers.IntegerField()
    delivered_count = serializers.IntegerField()
    revenue = serializers.DecimalField(max_digits=14, decimal_places=2)
    average_order_value = serializers.DecimalField(max_digits=14, decimal_places=2)
    first_order_at = serializers.DateTimeField(allow_null=True)
    last_order_at = serializers.DateTimeField(allow_null=True)
    refused_cod_count = serializers.IntegerField()
    last_refused_at = serializers.DateTimeField(allow_null=True)
    stoplist_proposed = serializers.SerializerMethodField()

    def get_stoplist_proposed(self, stats: CustomerStats) -> bool:
        return stats.stoplist_proposed_at is not None


def stats_of(customer: Customer) -> CustomerStats:
    """The customer's statistics, or zeros for a customer without orders."""
    try:
        return customer.stats
    except CustomerStats.DoesNotExist:
        return CustomerStats(customer=customer)


@extend_schema_field(CustomerStatsSerializer)
class StatsField(serializers.Field):
    def to_representation(self, customer: Customer) -> dict[str, Any]:
        return dict(CustomerStatsSerializer(stats_of(customer)).data)


def score_fields(customer: Customer) -> dict[str, Any]:
    """Importance, RFM segment and p_alive of the last analytics refresh (None before one)."""
    try:
        score = customer.score
    except ObjectDoesNotExist:
        return {"importance": None, "rfm_segment": None, "p_alive": None}
    return {
        "importance": score.importance,
        "rfm_segment": score.rfm_segment,
        "p_alive": score.p_alive,
    }


class ScoreFieldsMixin(serializers.Serializer):
    importance = serializers.ChoiceField(
        choices=Importance.choices,
        allow_null=True,
        help_text=_("1 low, 2 normal, 3 high, 4 VIP; null before the first analytics refresh."),
    )
    rfm_segment = serializers.ChoiceField(choices=RfmSegment.choices, allow_null=True)
    p_alive = serializers.FloatField(
        allow_null=True, help_text=_("Probability that the customer is still active, 0 to 1.")
    )


class CustomerListItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    kind = serializers.ChoiceField(choices=CustomerKind.choices)
    status = serializers.ChoiceField(choices=CustomerStatus.choices)
    city = serializers.CharField()
    primary_phone = serializers.CharField()
    primary_email = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)
    manager = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    def get_manager(self, customer: Customer) -> str | None:
        return customer.manager.username if customer.manager_id else None

    def get_tags(self, customer: Customer) -> list[str]:
        return sorted(t.name for t in customer.tags.all())


class CustomerCardSerializer(serializers.Serializer):
    """The whole card; `document_number_masked` is the only form the number leaves in."""

    id = serializers.IntegerField()
    display_name = serializers.CharField()
    kind = serializers.ChoiceField(choices=CustomerKind.choices)
    last_name = serializers.CharField()
    first_name = serializers.CharField()
    middle_name = serializers.CharField()
    gender = serializers.ChoiceField(choices=Gender.choices)
    birthday = serializers.DateField(allow_null=True)
    # Also set for a birthday without a year (birthday null): imported from Mailchimp and others.
    birth_month = serializers.IntegerField(allow_null=True, read_only=True)
    birth_day = serializers.IntegerField(allow_null=True, read_only=True)
    company_name = serializers.CharField()
    inn = serializers.CharField()
    kpp = serializers.CharField()
    ogrn = serializers.CharField()
    bank_bic = serializers.CharField()
    bank_account = serializers.CharField()
    legal_address = serializers.CharField()
    document_type = serializers.ChoiceField(choices=DocumentType.choices)
    document_number_masked = serializers.CharField(source="document_masked")
    status = serializers.ChoiceField(choices=CustomerStatus.choices)
    stoplist_reason = serializers.ChoiceField(choices=StopListReason.choices, allow_blank=True)
    stoplist_comment = serializers.CharField()
    stoplisted_at = serializers.DateTimeField(allow_null=True)
    source = serializers.ChoiceField(choices=SourceChannel.choices, allow_blank=True)
    external_id = serializers.CharField(allow_null=True)
    manager = serializers.SerializerMethodField()
    interests = serializers.JSONField()
    notes = serializers.CharField()
    custom_fields = serializers.DictField(child=serializers.JSONField())
    tags = serializers.SerializerMethodField()
    phones = PhoneSerializer(many=True, source="phones.all")
    emails = EmailSerializer(many=True, source="emails.all")
    addresses = AddressSerializer(many=True, source="addresses.all")
    consents = ConsentSerializer(many=True, source="consents.all")
    stats = StatsField(source="*")
    importance = serializers.SerializerMethodField()
    rfm_segment = serializers.SerializerMethodField()
    p_alive = serializers.SerializerMethodField()
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_manager(self, customer: Customer) -> str | None:
        return customer.manager.username if customer.manager_id else None

    def get_tags(self, customer: Customer) -> list[str]:
        return sorted(t.name for t in customer.tags.all())

    @extend_schema_field(serializers.ChoiceField(choices=Importance.choices, allow_null=True))
    def get_importance(self, customer: Customer) -> int | None:
        return score_fields(customer)["importance"]

    @extend_schema_field(serializers.ChoiceField(choices=RfmSegment.choices, allow_null=True))
    def get_rfm_segment(self, customer: Customer) -> str | None:
        return score_fields(customer)["rfm_segment"]

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_p_alive(self, customer: Customer) -> float | None:
        return score_fields(customer)["p_alive"]


class CustomerWriteSerializer(serializers.Serializer):
    """What a caller may set. Absent keys stay as they are; lists replace the whole list."""

    kind = serializers.ChoiceField(choices=CustomerKind.choices, required=False)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    middle_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    gender = serializers.ChoiceField(choices=Gender.choices, required=False, allow_blank=True)
    birthday = serializers.DateField(required=False, allow_null=True)
    company_name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    inn = serializers.CharField(max_length=12, required=False, allow_blank=True)
    kpp = serializers.CharField(max_length=9, required=False, allow_blank=True)
    ogrn = serializers.CharField(max_length=15, required=False, allow_blank=True)
    bank_bic = serializers.CharField(max_length=9, required=False, allow_blank=True)
    bank_account = serializers.CharField(max_length=20, required=False, allow_blank=True)
    legal_address = serializers.CharField(max_length=500, required=False, allow_blank=True)
    document_type = serializers.ChoiceField(
        choices=DocumentType.choices, required=False, allow_blank=True
    )
    document_number = serializers.CharField(
        max_length=100, required=False, allow_blank=True, write_only=True
    )
    source = serializers.ChoiceField(
        choices=SourceChannel.choices, required=False, allow_blank=True
    )
    external_id = serializers.CharField(
        max_length=100, required=False, allow_blank=True, allow_null=True
    )
    manager = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text=_("User name of the responsible manager."),
    )
    interests = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=50
    )
    notes = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    custom_fields = serializers.DictField(
        child=serializers.JSONField(), required=False, help_text=_("By the field's key.")
    )
    phones = PhoneSerializer(many=True, required=False, max_length=20)
    emails = EmailSerializer(many=True, required=False, max_length=20)
    addresses = AddressSerializer(many=True, required=False, max_length=20)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=60), required=False, max_length=50
    )
    consents = ConsentSerializer(many=True, required=False, max_length=10)

    def to_input(self) -> CustomerInput:
        data = self.validated_data
        return CustomerInput(
            fields={name: data[name] for name in EDITABLE_FIELDS if name in data},
            phones=[PhoneInput(**p) for p in data["phones"]] if "phones" in data else None,
            emails=[EmailInput(**e) for e in data["emails"]] if "emails" in data else None,
            addresses=(
                [AddressInput(**a) for a in data["addresses"]] if "addresses" in data else None
            ),
            tags=list(data["tags"]) if "tags" in data else None,
            consents=(
                [ConsentInput(**c) for c in data["consents"]] if "consents" in data else None
            ),
        )


class CustomerCreateSerializer(CustomerWriteSerializer):
    confirm_duplicate = serializers.BooleanField(
        default=False,
        help_text=_("Create even if a customer with the same phone or e-mail exists."),
    )


class CustomerPatchSerializer(CustomerWriteSerializer):
    version = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        help_text=_("The version you read; or send it in If-Match."),
    )


class CustomerLookupQuerySerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=40, help_text=_("Any format: 8 (916) 123-45-67."))


class OpenOrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField(source="external_id")
    status = serializers.CharField()
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    placed_at = serializers.DateTimeField()


class CustomerLookupSerializer(ScoreFieldsMixin, serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    kind = serializers.ChoiceField(choices=CustomerKind.choices)
    status = serializers.ChoiceField(choices=CustomerStatus.choices)
    is_stoplisted = serializers.BooleanField()
    stoplist_reason = serializers.ChoiceField(choices=StopListReason.choices, allow_blank=True)
    stoplist_comment = serializers.CharField()
    manager = serializers.CharField(allow_null=True)
    tags = serializers.ListField(child=serializers.CharField())
    stats = CustomerStatsSerializer()
    open_orders = OpenOrderSerializer(many=True)
    other_customer_ids = serializers.ListField(
        child=serializers.IntegerField(),
        help_text=_("Other customers with the same phone (a shared family phone)."),
    )
