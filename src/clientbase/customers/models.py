"""The customer card: customer, contacts, addresses, consent, tags, custom fields, timeline."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Right
from django.utils.translation import gettext_lazy as _

from clientbase.core.crypto import EncryptedTextField, mask
from clientbase.core.models import TimeStampedModel
from clientbase.customers.choices import (
    ConsentChannel,
    ConsentState,
    CustomerKind,
    CustomerStatus,
    CustomFieldType,
    DocumentType,
    Gender,
    PhoneKind,
    SourceChannel,
    StopListReason,
    TimelineKind,
)


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=60, unique=True)
    color = models.CharField(_("colour"), max_length=20, default="secondary")

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# The longest value of a text custom field: the card's form, the API and the service agree.
CUSTOM_TEXT_MAX_LENGTH = 500


class CustomFieldDefinition(models.Model):
    """A field an admin adds to every customer card; values live in Customer.custom_fields."""

    key = models.SlugField(_("key"), max_length=40, unique=True)
    label = models.CharField(_("label"), max_length=100)
    field_type = models.CharField(
        _("type"), max_length=10, choices=CustomFieldType.choices, default=CustomFieldType.TEXT
    )
    choices = models.JSONField(_("choices"), default=list, blank=True)
    required = models.BooleanField(_("required"), default=False)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        ordering = ["position", "key"]

    def __str__(self) -> str:
        return self.label


class Customer(TimeStampedModel):
    kind = models.CharField(
        _("kind"), max_length=10, choices=CustomerKind.choices, default=CustomerKind.PERSON
    )
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    middle_name = models.CharField(_("middle name"), max_length=100, blank=True)
    gender = models.CharField(_("gender"), max_length=10, choices=Gender.choices, blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    # Month and day kept apart so "born in May" and "birthday within 14 days" use an index.
    birth_month = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    birth_day = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)

    # Company details (wholesale customers).
    company_name = models.CharField(_("legal name"), max_length=255, blank=True)
    inn = models.CharField(_("INN"), max_length=12, blank=True, db_index=True)
    kpp = models.CharField(_("KPP"), max_length=9, blank=True)
    ogrn = models.CharField(_("OGRN"), max_length=15, blank=True)
    bank_bic = models.CharField(_("bank BIC"), max_length=9, blank=True)
    bank_account = models.CharField(_("bank account"), max_length=20, blank=True)
    legal_address = models.CharField(_("legal address"), max_length=500, blank=True)

    document_type = models.CharField(
        _("identity document"), max_length=20, choices=DocumentType.choices, blank=True
    )
    document_number = EncryptedTextField(_("document number"), blank=True)

    status = models.CharField(
        _("status"), max_length=12, choices=CustomerStatus.choices, default=CustomerStatus.ACTIVE
    )
    stoplist_reason = models.CharField(
        _("stop-list reason"), max_length=20, choices=StopListReason.choices, blank=True
    )
    stoplist_comment = models.TextField(_("stop-list comment"), blank=True)
    stoplisted_at = models.DateTimeField(_("stop-listed at"), null=True, blank=True)

    source = models.CharField(
        _("source channel"), max_length=20, choices=SourceChannel.choices, blank=True
    )
    # NULL, not "", for "no id": the unique constraint must ignore customers without one.
    external_id = models.CharField(  # noqa: DJ001
        _("external id"), max_length=100, null=True, blank=True
    )
    # No index of its own: customer_manager_idx (manager, search_name) serves every lookup, and
    # each index on this table slows every import and insert.
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("responsible manager"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customers",
        db_index=False,
    )
    interests = models.JSONField(_("preferences and interests"), default=list, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    # A manual VIP mark: the importance level never drops below "VIP" for these customers.
    vip = models.BooleanField(_("VIP"), default=False)
    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="customers")

    # Denormalised for lists and search at a million rows: no joins, index range scans only.
    search_name = models.CharField(max_length=400, blank=True, editable=False)
    primary_phone = models.CharField(max_length=20, blank=True, editable=False, db_index=True)
    primary_email = models.CharField(max_length=254, blank=True, editable=False)
    city = models.CharField(_("city"), max_length=100, blank=True, editable=False)

    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    # Never searched by; without an index, deleting a user scans the table once (rare).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        db_index=False,
    )

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="customer_external_id_unique",
            )
        ]
        indexes = [
            models.Index(fields=["search_name", "id"], name="customer_search_name_idx"),
            models.Index(fields=["-created_at", "-id"], name="customer_created_idx"),
            # Also the "by city" sort (city, name, id): with the id, a page is one range scan.
            models.Index(fields=["city", "search_name", "id"], name="customer_city_name_idx"),
            models.Index(fields=["status", "search_name"], name="customer_status_idx"),
            models.Index(fields=["kind", "search_name"], name="customer_kind_idx"),
            models.Index(fields=["manager", "search_name"], name="customer_manager_idx"),
            models.Index(fields=["birth_month", "birth_day"], name="customer_birthday_idx"),
            # For segment counts (segments.language): "vip", and "city and kind" together as
            # one covering index range instead of a row lookup per customer of the city.
            models.Index(fields=["vip"], name="customer_vip_idx"),
            models.Index(fields=["city", "kind"], name="customer_city_kind_idx"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def person_name(self) -> str:
        """Surname, name, patronymic: the person's, or for a company its contact person's."""
        return " ".join(p for p in (self.last_name, self.first_name, self.middle_name) if p)

    @property
    def display_name(self) -> str:
        if self.kind == CustomerKind.COMPANY and self.company_name:
            return self.company_name
        return self.person_name or self.company_name or f"#{self.pk}"

    @property
    def birthday_without_year(self) -> dt.date | None:
        """A birthday known by its day and month only, as a date in a leap year (2000) for
        formatting ("24 августа"); None when the full date is known or nothing is."""
        if self.birthday or not (self.birth_month and self.birth_day):
            return None
        return dt.date(2000, self.birth_month, self.birth_day)

    @property
    def is_stoplisted(self) -> bool:
        return self.status == CustomerStatus.STOPLISTED

    @property
    def document_masked(self) -> str:
        return mask(self.document_number) if self.document_number else ""


# How many trailing digits of a phone are indexed: the shortest partial number search takes.
LAST_DIGITS = 4


class CustomerPhone(models.Model):
    # The unique (customer, ...) constraint below leads with the customer: no second index.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="phones", db_index=False
    )
    number = models.CharField(_("phone"), max_length=20, db_index=True)
    # The last four digits, kept by the database itself (every writer, the import's bulk SQL
    # included, gets it for free): a call centre's "…45-67" is an index lookup, not a scan.
    last_digits = models.GeneratedField(
        expression=Right("number", LAST_DIGITS),
        output_field=models.CharField(max_length=LAST_DIGITS),
        db_persist=True,
        db_index=True,
    )
    kind = models.CharField(
        _("type"), max_length=10, choices=PhoneKind.choices, default=PhoneKind.MOBILE
    )
    is_primary = models.BooleanField(_("primary"), default=False)

    class Meta:
        verbose_name = _("phone")
        verbose_name_plural = _("phones")
        ordering = ["-is_primary", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "number"], name="phone_unique_per_customer"
            ),
            models.UniqueConstraint(
                fields=["customer"], condition=Q(is_primary=True), name="phone_one_primary"
            ),
        ]

    def __str__(self) -> str:
        return self.number


class CustomerEmail(models.Model):
    # The unique (customer, ...) constraint below leads with the customer: no second index.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="emails", db_index=False
    )
    address = models.CharField(_("e-mail"), max_length=254, db_index=True)
    is_primary = models.BooleanField(_("primary"), default=False)

    class Meta:
        verbose_name = _("e-mail")
        verbose_name_plural = _("e-mails")
        ordering = ["-is_primary", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "address"], name="email_unique_per_customer"
            ),
            models.UniqueConstraint(
                fields=["customer"], condition=Q(is_primary=True), name="email_one_primary"
            ),
        ]

    def __str__(self) -> str:
        return self.address


class Address(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="addresses")
    label = models.CharField(_("label"), max_length=50, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=12, blank=True)
    region = models.CharField(_("region"), max_length=100, blank=True)
    city = models.CharField(_("city"), max_length=100)
    line = models.CharField(_("street, house, flat"), max_length=300)
    comment = models.CharField(_("comment for the courier"), max_length=300, blank=True)
    is_default = models.BooleanField(_("default"), default=False)

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        ordering = ["-is_default", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"], condition=Q(is_default=True), name="address_one_default"
            )
        ]
        # Segments: "region = X" reads the customers of a region from this index alone.
        indexes = [
            models.Index(fields=["region", "is_default", "customer"], name="address_region_idx")
        ]

    def __str__(self) -> str:
        return ", ".join(p for p in (self.postal_code, self.region, self.city, self.line) if p)


class CustomerInterest(models.Model):
    """One of a customer's interests (Customer.interests) in its search form, for segments.

    Segments find customers by interest through the (key, customer) index on both databases;
    SQLite has no index over JSON array elements. customers.services keeps these rows in step
    with Customer.interests (the demo writes them alongside).
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="interest_keys")
    key = models.CharField(max_length=200)

    class Meta:
        verbose_name = _("interest")
        verbose_name_plural = _("interests")
        constraints = [
            models.UniqueConstraint(fields=["key", "customer"], name="interest_unique_per_customer")
        ]

    def __str__(self) -> str:
        return self.key


class Consent(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(_("channel"), max_length=10, choices=ConsentChannel.choices)
    state = models.CharField(
        _("state"), max_length=10, choices=ConsentState.choices, default=ConsentState.UNKNOWN
    )
    changed_at = models.DateTimeField(_("changed at"), null=True, blank=True)
    source = models.CharField(_("where it came from"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        constraints = [
            models.UniqueConstraint(fields=["customer", "channel"], name="consent_unique_channel")
        ]

    def __str__(self) -> str:
        return f"{self.channel}: {self.state}"


class TimelineEvent(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(_("event"), max_length=20, choices=TimelineKind.choices)
    at = models.DateTimeField(_("when"), auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("timeline event")
        verbose_name_plural = _("timeline events")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["customer", "-at"], name="timeline_customer_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.at:%Y-%m-%d}"
