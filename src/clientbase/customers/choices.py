"""Choices of the customers app."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class CustomerKind(models.TextChoices):
    PERSON = "person", _("Person")
    COMPANY = "company", _("Company")


class Gender(models.TextChoices):
    UNKNOWN = "", _("Not stated")
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")


class CustomerStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    ARCHIVED = "archived", _("Archived")
    STOPLISTED = "stoplisted", _("On the stop-list")


class StopListReason(models.TextChoices):
    REFUSED_COD = "refused_cod", _("Refused cash-on-delivery parcels")
    ABUSIVE = "abusive", _("Abusive complaints")
    FRAUD = "fraud", _("Fraud")
    OTHER = "other", _("Other")


class PhoneKind(models.TextChoices):
    MOBILE = "mobile", _("Mobile")
    HOME = "home", _("Home")
    WORK = "work", _("Work")
    OTHER = "other", _("Other")


class SourceChannel(models.TextChoices):
    MANUAL = "manual", _("Entered by staff")
    WEBSITE = "website", _("Website")
    PHONE = "phone", _("Phone call")
    MARKETPLACE = "marketplace", _("Marketplace")
    SOCIAL = "social", _("Social networks")
    REFERRAL = "referral", _("Referral")
    IMPORT = "import", _("Import")
    RETAIL = "retail", _("Retail shop")
    OTHER = "other", _("Other")


class DocumentType(models.TextChoices):
    NONE = "", _("None")
    PASSPORT_RU = "passport_ru", _("Russian passport")
    PASSPORT_FOREIGN = "passport_foreign", _("Foreign passport")
    DRIVING_LICENCE = "driving_licence", _("Driving licence")
    OTHER = "other", _("Other document")


class ConsentChannel(models.TextChoices):
    EMAIL = "email", _("E-mail marketing")
    SMS = "sms", _("SMS marketing")


class ConsentState(models.TextChoices):
    UNKNOWN = "unknown", _("Not asked")
    GRANTED = "granted", _("Granted")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class CustomFieldType(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    BOOLEAN = "boolean", _("Yes / no")
    CHOICE = "choice", _("Choice from a list")


class TimelineKind(models.TextChoices):
    CREATED = "created", _("Created")
    EDITED = "edited", _("Edited")
    TAGGED = "tagged", _("Tag added")
    UNTAGGED = "untagged", _("Tag removed")
    STOPLISTED = "stoplisted", pgettext_lazy("timeline event", "Put on the stop-list")
    UNSTOPLISTED = "unstoplisted", _("Removed from the stop-list")
    ARCHIVED = "archived", pgettext_lazy("timeline event", "Archived")
    RESTORED = "restored", _("Restored from archive")
    MANAGER = "manager", _("Manager assigned")
    CONSENT = "consent", _("Consent changed")
    NOTE = "note", _("Note")
    ORDER = "order", _("Order")
    MESSAGE = "message", _("Message")
