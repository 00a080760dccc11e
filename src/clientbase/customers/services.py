"""Writes of the customers app: create, update under a version, stop-list, tags, bulk actions."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from clientbase.core import audit
from clientbase.core.choices import AuditAction
from clientbase.core.errors import ConflictError, DomainError, DuplicateWarning
from clientbase.core.models import AuditEvent
from clientbase.core.webhooks import (
    CUSTOMER_CREATED,
    CUSTOMER_STOPLISTED,
    CUSTOMER_UPDATED,
    webhook_emit,
)
from clientbase.customers.choices import (
    ConsentChannel,
    ConsentState,
    CustomerKind,
    CustomerStatus,
    CustomFieldType,
    PhoneKind,
    StopListReason,
    TimelineKind,
)
from clientbase.customers.models import (
    CUSTOM_TEXT_MAX_LENGTH,
    Address,
    Consent,
    Customer,
    CustomerEmail,
    CustomerInterest,
    CustomerPhone,
    CustomFieldDefinition,
    Tag,
    TimelineEvent,
)
from clientbase.customers.normalize import (
    normalize_city,
    normalize_email,
    normalize_phone,
    search_key,
    validate_bank_account,
    validate_bic,
    validate_inn,
    validate_kpp,
    validate_ogrn,
)

# Scalar fields a staff user edits; each change is audited with before and after.
EDITABLE_FIELDS = (
    "kind",
    "last_name",
    "first_name",
    "middle_name",
    "gender",
    "birthday",
    "company_name",
    "inn",
    "kpp",
    "ogrn",
    "bank_bic",
    "bank_account",
    "legal_address",
    "document_type",
    "document_number",
    "source",
    "external_id",
    "manager",
    "interests",
    "notes",
    "vip",
    "custom_fields",
)
# Audit says these changed but never copies their values.
REDACTED_FIELDS = ("document_number",)


@dataclass(frozen=True)
class PhoneInput:
    number: str
    kind: str = PhoneKind.MOBILE
    is_primary: bool = False


@dataclass(frozen=True)
class EmailInput:
    address: str
    is_primary: bool = False


@dataclass(frozen=True)
class AddressInput:
    city: str
    line: str
    label: str = ""
    postal_code: str = ""
    region: str = ""
    comment: str = ""
    is_default: bool = False


@dataclass(frozen=True)
class ConsentInput:
    channel: str
    state: str
    source: str = ""


@dataclass
class CustomerInput:
    """Everything a card form or an API call may set; None means "leave as it is"."""

    fields: dict[str, Any] = field(default_factory=dict)
    phones: Sequence[PhoneInput] | None = None
    emails: Sequence[EmailInput] | None = None
    addresses: Sequence[AddressInput] | None = None
    tags: Sequence[str] | None = None
    consents: Sequence[ConsentInput] | None = None


# ---------------------------------------------------------------- validation and derivation


def _clean_phones(phones: Sequence[PhoneInput]) -> list[PhoneInput]:
    errors: list[ValidationError] = []
    seen: dict[str, PhoneInput] = {}
    for item in phones:
        if not str(item.number).strip():
            continue
        try:
            number = normalize_phone(item.number)
        except ValidationError as exc:
            errors.append(exc)
            continue
        if number not in seen:
            seen[number] = PhoneInput(number=number, kind=item.kind, is_primary=item.is_primary)
    if errors:
        raise ValidationError({"phones": errors})
    return _one_flagged(list(seen.values()), "is_primary")


def _clean_emails(emails: Sequence[EmailInput]) -> list[EmailInput]:
    errors: list[ValidationError] = []
    seen: dict[str, EmailInput] = {}
    for item in emails:
        if not str(item.address).strip():
            continue
        try:
            address = normalize_email(item.address)
        except ValidationError as exc:
            errors.append(exc)
            continue
        if address not in seen:
            seen[address] = EmailInput(address=address, is_primary=item.is_primary)
    if errors:
        raise ValidationError({"emails": errors})
    return _one_flagged(list(seen.values()), "is_primary")


def _one_flagged(items: list[Any], flag: str) -> list[Any]:
    """Exactly one item carries the flag: the first flagged one, else the first item."""
    if not items:
        return items
    chosen = next((i for i, item in enumerate(items) if getattr(item, flag)), 0)
    return [type(item)(**{**item.__dict__, flag: i == chosen}) for i, item in enumerate(items)]


def _clean_custom_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    definitions = {d.key: d for d in CustomFieldDefinition.objects.all()}
    cleaned: dict[str, Any] = {}
    errors: dict[str, ValidationError] = {}
    for key, definition in definitions.items():
        raw = values.get(key)
        if raw in (None, ""):
            if definition.required:
                errors[key] = ValidationError(
                    _("“%(label)s” is required."), params={"label": definition.label}
                )
            continue
        try:
            cleaned[key] = _coerce_custom(definition, raw)
        except ValidationError as exc:
            errors[key] = exc
        except (TypeError, ValueError):
            errors[key] = ValidationError(
                _("“%(label)s”: “%(value)s” is not a valid %(type)s."),
                params={
                    "label": definition.label,
                    "value": str(raw)[:50],
                    "type": definition.get_field_type_display(),
                },
            )
    unknown = set(values) - set(definitions)
    if unknown:
        errors["custom_fields"] = ValidationError(
            _("Unknown custom fields: %(keys)s."), params={"keys": ", ".join(sorted(unknown))}
        )
    if errors:
        raise ValidationError({"custom_fields": list(errors.values())})
    return cleaned


def _coerce_custom(definition: CustomFieldDefinition, raw: Any) -> Any:
    kind = definition.field_type
    if kind == CustomFieldType.NUMBER:
        number = float(str(raw).replace(",", ".").replace(" ", ""))
        if not math.isfinite(number):
            # "inf" and "nan" parse as floats but are not numbers JSON can store.
            raise ValueError(raw)
        return int(number) if number.is_integer() else number
    if kind == CustomFieldType.DATE:
        if isinstance(raw, dt.date):
            return raw.isoformat()
        return dt.date.fromisoformat(str(raw)).isoformat()
    if kind == CustomFieldType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "да", "on"}:
            return True
        if text in {"0", "false", "no", "нет", "off"}:
            return False
        raise ValueError(raw)
    if kind == CustomFieldType.CHOICE:
        if str(raw) not in definition.choices:
            raise ValueError(raw)
        return str(raw)
    # Text, as the built-in text fields take it: a string or a number, never an object, a list
    # or a boolean, and no longer than the card's form allows.
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise TypeError(raw)
    text = str(raw).strip()
    if len(text) > CUSTOM_TEXT_MAX_LENGTH:
        raise ValidationError(
            ngettext(
                "“%(label)s”: at most %(max)s character (it has %(length)s).",
                "“%(label)s”: at most %(max)s characters (it has %(length)s).",
                CUSTOM_TEXT_MAX_LENGTH,
            ),
            code="max_length",
            params={
                "label": definition.label,
                "max": number_format(CUSTOM_TEXT_MAX_LENGTH, force_grouping=True),
                "length": number_format(len(text), force_grouping=True),
            },
        )
    return text


def _validate_card(customer: Customer) -> None:
    """Rules across fields, with one translated message per problem."""
    errors: dict[str, list[ValidationError]] = {}

    def check(name: str, func: Callable[[], Any]) -> None:
        try:
            func()
        except ValidationError as exc:
            errors.setdefault(name, []).append(exc)

    if customer.external_id == "":
        customer.external_id = None
    # Field-level checks first: they also turn text from APIs and files ("1990-05-01") into
    # the field's type, which the rules across fields below rely on.
    try:
        customer.clean_fields(exclude=["tags", "manager", "created_by"])
    except ValidationError as exc:
        for name, field_errors in exc.error_dict.items():
            errors.setdefault(name, []).extend(field_errors)
    if isinstance(customer.birthday, dt.date) and customer.birthday > timezone.localdate():
        errors.setdefault("birthday", []).append(
            ValidationError(_("Birthday cannot be in the future."), code="birthday_future")
        )
    if customer.inn:
        check("inn", lambda: setattr(customer, "inn", validate_inn(customer.inn)))
    if customer.ogrn:
        check("ogrn", lambda: setattr(customer, "ogrn", validate_ogrn(customer.ogrn)))
    if customer.kpp:
        check("kpp", lambda: setattr(customer, "kpp", validate_kpp(customer.kpp)))
    if customer.bank_bic:
        check("bank_bic", lambda: setattr(customer, "bank_bic", validate_bic(customer.bank_bic)))
    if customer.bank_account:
        if not customer.bank_bic:
            errors.setdefault("bank_bic", []).append(
                ValidationError(_("Enter the bank's BIC to check the account number."))
            )
        elif "bank_bic" not in errors:
            check(
                "bank_account",
                lambda: setattr(
                    customer,
                    "bank_account",
                    validate_bank_account(customer.bank_account, customer.bank_bic),
                ),
            )
    if customer.kind == CustomerKind.COMPANY and not customer.company_name.strip():
        errors.setdefault("company_name", []).append(
            ValidationError(_("A company needs its legal name."), code="required")
        )
    if customer.kind == CustomerKind.PERSON and not (
        customer.last_name.strip() or customer.first_name.strip()
    ):
        errors.setdefault("first_name", []).append(
            ValidationError(_("Enter at least a first or a last name."), code="required")
        )
    if (
        customer.external_id
        and Customer.objects.filter(external_id=customer.external_id)
        .exclude(pk=customer.pk)
        .exists()
    ):
        errors.setdefault("external_id", []).append(
            ValidationError(_("Another customer has this external id."), code="unique")
        )
    if customer.kind == CustomerKind.COMPANY and (
        customer.document_type or customer.document_number
    ):
        # An identity document is a person's. Refused rather than dropped: clearing personal
        # data quietly is a loss nobody decided on.
        errors.setdefault("document_number", []).append(
            ValidationError(
                _("A company has no identity document: clear it, or keep the kind “person”."),
                code="company_document",
            )
        )
    elif customer.document_number and not customer.document_type:
        errors.setdefault("document_type", []).append(
            ValidationError(_("Choose the type of the document."), code="required")
        )
    if errors:
        raise ValidationError(errors)
    customer.clean()


def customer_derive(customer: Customer, *, birthday_before: dt.date | None = None) -> None:
    """Fill the denormalised columns that lists and search read (name, birthday parts).

    A birthday without a year (an import from Mailchimp and the like) has no date, only its
    month and day: those stay unless a date is set, or the date the card had is cleared
    (`birthday_before`).
    """
    customer.search_name = search_key(
        customer.company_name if customer.kind == CustomerKind.COMPANY else "",
        customer.last_name,
        customer.first_name,
        customer.middle_name,
    )[:400]
    if customer.birthday:
        customer.birth_month = customer.birthday.month
        customer.birth_day = customer.birthday.day
    elif birthday_before:
        customer.birth_month = customer.birth_day = None


# ---------------------------------------------------------------- snapshots for audit


def customer_snapshot(customer: Customer) -> dict[str, Any]:
    """The card as plain data: scalar fields and related rows, for before/after diffs."""
    data: dict[str, Any] = {name: getattr(customer, name) for name in EDITABLE_FIELDS}
    # The manager's user name, not the id: the audit log and conflict messages are read by
    # people.
    data["manager"] = _usernames([customer.manager_id]).get(customer.manager_id)
    data["status"] = customer.status
    data["stoplist_reason"] = customer.stoplist_reason
    data["stoplist_comment"] = customer.stoplist_comment
    if customer.pk:
        data["phones"] = [
            f"{p.number} ({p.kind}{', primary' if p.is_primary else ''})"
            for p in customer.phones.all()
        ]
        data["emails"] = [
            f"{e.address}{' (primary)' if e.is_primary else ''}" for e in customer.emails.all()
        ]
        data["addresses"] = [
            f"{a}{' (default)' if a.is_default else ''}" for a in customer.addresses.all()
        ]
        data["tags"] = sorted(t.name for t in customer.tags.all())
        data["consents"] = {c.channel: c.state for c in customer.consents.all()}
    return data


def _usernames(user_ids: Iterable[int | None]) -> dict[int | None, str]:
    from clientbase.accounts.models import User

    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    return dict(User.objects.filter(pk__in=ids).values_list("pk", "username"))


def _changes_since(customer_id: int, version: int) -> list[dict[str, Any]]:
    """What others changed after `version`: who, when, which fields, from the audit log."""
    events = AuditEvent.objects.filter(
        object_type=Customer._meta.label_lower,
        object_id=str(customer_id),
        action=AuditAction.UPDATE,
    ).order_by("at", "id")
    result = []
    for event in events:
        if int(event.extra.get("version", 0)) > version:
            result.append(
                {
                    "who": event.actor_name,
                    "at": event.at.isoformat(),
                    "version": event.extra.get("version"),
                    "changes": event.changes,
                }
            )
    return result


# ---------------------------------------------------------------- duplicates


def likely_duplicates(
    *, phones: Iterable[str], emails: Iterable[str], exclude_id: int | None = None
) -> list[dict[str, Any]]:
    """Active customers that already own one of these (normalised) phones or e-mails."""
    phones, emails = list(phones), list(emails)
    if not phones and not emails:
        return []
    matches: dict[int, dict[str, Any]] = {}
    active = Q(customer__status__in=[CustomerStatus.ACTIVE, CustomerStatus.STOPLISTED])
    phone_rows = CustomerPhone.objects.filter(active, number__in=phones).values_list(
        "customer_id", "number"
    )
    email_rows = CustomerEmail.objects.filter(active, address__in=emails).values_list(
        "customer_id", "address"
    )
    for customer_id, value in [*phone_rows, *email_rows]:
        if customer_id == exclude_id:
            continue
        matches.setdefault(customer_id, {"id": customer_id, "matched": []})["matched"].append(value)
    names = Customer.objects.in_bulk(list(matches))
    for customer_id, item in matches.items():
        item["name"] = names[customer_id].display_name
    return sorted(matches.values(), key=lambda m: m["id"])


# ---------------------------------------------------------------- related rows


def _sync_phones(customer: Customer, phones: list[PhoneInput]) -> None:
    CustomerPhone.objects.filter(customer=customer).delete()
    CustomerPhone.objects.bulk_create(
        [
            CustomerPhone(customer=customer, number=p.number, kind=p.kind, is_primary=p.is_primary)
            for p in phones
        ]
    )
    customer.primary_phone = next((p.number for p in phones if p.is_primary), "")


def _sync_emails(customer: Customer, emails: list[EmailInput]) -> None:
    CustomerEmail.objects.filter(customer=customer).delete()
    CustomerEmail.objects.bulk_create(
        [
            CustomerEmail(customer=customer, address=e.address, is_primary=e.is_primary)
            for e in emails
        ]
    )
    customer.primary_email = next((e.address for e in emails if e.is_primary), "")


def _clean_addresses(addresses: Sequence[AddressInput]) -> list[AddressInput]:
    rows = [a for a in addresses if a.city.strip() or a.line.strip()]
    errors = [
        ValidationError(_("Address %(n)d: enter the city and the street."), params={"n": i + 1})
        for i, a in enumerate(rows)
        if not (a.city.strip() and a.line.strip())
    ]
    if errors:
        raise ValidationError({"addresses": errors})
    return rows


def _sync_addresses(customer: Customer, addresses: Sequence[AddressInput]) -> None:
    # One stored form per city ("москва" -> "Москва"): filters and segments compare with "=".
    rows = [
        replace(a, city=normalize_city(a.city)[:100])
        for a in _one_flagged(_clean_addresses(addresses), "is_default")
    ]
    Address.objects.filter(customer=customer).delete()
    Address.objects.bulk_create([Address(customer=customer, **a.__dict__) for a in rows])
    customer.city = next((a.city for a in rows if a.is_default), "")


def _tags_by_name(names: Iterable[str]) -> list[Tag]:
    clean = sorted({" ".join(n.split())[:60] for n in names if n and n.strip()})
    if not clean:
        return []
    Tag.objects.bulk_create([Tag(name=n) for n in clean], ignore_conflicts=True)
    return list(Tag.objects.filter(name__in=clean))


def _check_consents(consents: Sequence[ConsentInput]) -> None:
    for item in consents:
        if item.channel not in ConsentChannel.values or item.state not in ConsentState.values:
            raise ValidationError({"consents": _("Unknown consent channel or state.")})


def _sync_consents(customer: Customer, consents: Sequence[ConsentInput]) -> None:
    now = timezone.now()
    _check_consents(consents)
    for item in consents:
        current = Consent.objects.filter(customer=customer, channel=item.channel).first()
        if current is not None and current.state == item.state:
            continue
        Consent.objects.update_or_create(
            customer=customer,
            channel=item.channel,
            defaults={"state": item.state, "changed_at": now, "source": item.source[:200]},
        )


def _timeline(customer: Customer, kind: str, actor: Any, **data: Any) -> TimelineEvent:
    return TimelineEvent.objects.create(
        customer=customer, kind=kind, actor=audit.staff_actor(actor), data=data
    )


def _apply_input(customer: Customer, data: CustomerInput) -> None:
    for name, value in data.fields.items():
        if name not in EDITABLE_FIELDS:
            raise DomainError(_("Field “%(name)s” cannot be set.") % {"name": name})
        if name == "manager":
            customer.manager_id = getattr(value, "pk", value)
        else:
            setattr(customer, name, value if value is not None or name == "birthday" else "")


def _checked_input(
    customer: Customer, data: CustomerInput, *, new: bool
) -> tuple[list[PhoneInput] | None, list[EmailInput] | None]:
    """Apply `data` to `customer` and check every part of it before reporting anything.

    One ValidationError names every problem (contacts, addresses, custom fields and the card's
    own rules), so a user or an API client fixes them in one round, not one part at a time.
    Returns the cleaned phones and e-mails (None: leave them as they are).
    """
    errors: dict[str, list[Any]] = {}

    def collect(check: Callable[[], Any]) -> Any:
        try:
            return check()
        except ValidationError as exc:
            exc.update_error_dict(errors)
            return None

    phones = data.phones if data.phones is not None else ([] if new else None)
    emails = data.emails if data.emails is not None else ([] if new else None)
    clean_phones = collect(lambda: _clean_phones(phones)) if phones is not None else None
    clean_emails = collect(lambda: _clean_emails(emails)) if emails is not None else None
    if data.addresses is not None:
        collect(lambda: _clean_addresses(data.addresses or []))
    if data.consents is not None:
        collect(lambda: _check_consents(data.consents or []))
    _apply_input(customer, data)
    if "custom_fields" in data.fields or new:
        # A new card must satisfy required custom fields even when the caller sent none.
        custom = collect(lambda: _clean_custom_fields(data.fields.get("custom_fields") or {}))
        if custom is not None:
            customer.custom_fields = custom
    collect(lambda: _validate_card(customer))
    if errors:
        raise ValidationError(errors)
    return clean_phones, clean_emails


def customer_validate(*, data: CustomerInput, customer_id: int | None = None) -> None:
    """Check a card as customer_create (or customer_update) would, writing nothing.

    For a form that found errors of its own: the service's rules are reported in the same
    round. Raises one ValidationError with every problem; duplicates are not looked for.
    """
    if customer_id is None:
        _checked_input(Customer(), data, new=True)
        return
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is not None:
        _checked_input(customer, data, new=False)


def interest_keys(interests: Any) -> list[str]:
    """The search forms of a customer's interests, as CustomerInterest stores them."""
    values = interests if isinstance(interests, list) else []
    return sorted({key[:200] for key in (search_key(str(v)) for v in values) if key})


def _sync_interests(customer: Customer) -> None:
    """Keep the customer's CustomerInterest rows (what segments search) equal to the card."""
    wanted = set(interest_keys(customer.interests))
    rows = CustomerInterest.objects.filter(customer=customer)
    current = set(rows.values_list("key", flat=True))
    if current != wanted:
        rows.exclude(key__in=wanted).delete()
        CustomerInterest.objects.bulk_create(
            [CustomerInterest(customer=customer, key=key) for key in sorted(wanted - current)]
        )


def _write_related(
    customer: Customer,
    data: CustomerInput,
    phones: list[PhoneInput] | None,
    emails: list[EmailInput] | None,
) -> None:
    if "interests" in data.fields:
        _sync_interests(customer)
    if phones is not None:
        _sync_phones(customer, phones)
    if emails is not None:
        _sync_emails(customer, emails)
    if data.addresses is not None:
        _sync_addresses(customer, data.addresses)
    if data.tags is not None:
        customer.tags.set(_tags_by_name(data.tags))
    if data.consents is not None:
        _sync_consents(customer, data.consents)


# ---------------------------------------------------------------- services


def customer_create(
    *, actor: Any, data: CustomerInput, confirm_duplicate: bool = False
) -> Customer:
    """Create a customer. A likely duplicate raises DuplicateWarning unless confirmed."""
    customer = Customer(created_by=audit.staff_actor(actor))
    checked_phones, checked_emails = _checked_input(customer, data, new=True)
    phones: list[PhoneInput] = checked_phones or []
    emails: list[EmailInput] = checked_emails or []
    customer_derive(customer)
    if not confirm_duplicate:
        duplicates = likely_duplicates(
            phones=[p.number for p in phones], emails=[e.address for e in emails]
        )
        if duplicates:
            raise DuplicateWarning(
                _("A customer with this phone or e-mail already exists."), details=duplicates
            )
    with transaction.atomic():
        customer.save()
        _write_related(customer, data, phones, emails)
        customer.save(update_fields=["primary_phone", "primary_email", "city"])
        _timeline(customer, TimelineKind.CREATED, actor)
        after = customer_snapshot(customer)
        audit.record(
            action=AuditAction.CREATE,
            actor=actor,
            obj=customer,
            changes=audit.diff({}, after, redact=REDACTED_FIELDS),
            extra={"version": customer.version},
        )
        webhook_emit(event=CUSTOMER_CREATED, payload=_webhook_data(customer))
    return customer


def _webhook_data(customer: Customer, **extra: Any) -> dict[str, Any]:
    """Ids and the version only: receivers fetch the card through the API."""
    return {
        "customer_id": customer.pk,
        "external_id": customer.external_id,
        "version": customer.version,
        **extra,
    }


def _locked(customer_id: int) -> Customer:
    try:
        return Customer.objects.select_for_update().get(pk=customer_id)
    except Customer.DoesNotExist as exc:
        raise DomainError(_("The customer no longer exists."), code="not_found") from exc


def _bump_version(customer: Customer, expected_version: int) -> None:
    """Compare-and-set on the version: refuses a write based on an older card."""
    updated = Customer.objects.filter(pk=customer.pk, version=expected_version).update(
        version=F("version") + 1, updated_at=timezone.now()
    )
    if updated != 1:
        _raise_conflict(customer.pk, expected_version)
    customer.version = expected_version + 1


def _raise_conflict(customer_id: int, expected_version: int) -> None:
    raise ConflictError(
        _(
            "Someone changed this customer after you opened the card. Nothing was saved: "
            "review their changes and apply yours again."
        ),
        details=_changes_since(customer_id, expected_version),
    )


def _save_change(
    customer: Customer,
    *,
    actor: Any,
    expected_version: int,
    before: dict[str, Any],
    timeline_kind: str = TimelineKind.EDITED,
    timeline_data: Mapping[str, Any] | None = None,
    webhook_event: str = CUSTOMER_UPDATED,
    webhook_extra: Mapping[str, Any] | None = None,
) -> Customer:
    after = customer_snapshot(customer)
    changes = audit.diff(before, after, redact=REDACTED_FIELDS)
    if not changes:
        return customer
    _bump_version(customer, expected_version)
    customer.save()
    _timeline(
        customer,
        timeline_kind,
        actor,
        **(timeline_data if timeline_data is not None else {"fields": sorted(changes)}),
    )
    audit.record(
        action=AuditAction.UPDATE,
        actor=actor,
        obj=customer,
        changes=changes,
        extra={"version": customer.version},
    )
    extra = webhook_extra if webhook_extra is not None else {"fields": sorted(changes)}
    webhook_emit(event=webhook_event, payload=_webhook_data(customer, **extra))
    return customer


def customer_update(
    *, actor: Any, customer_id: int, expected_version: int, data: CustomerInput
) -> Customer:
    """Change a card. A stale `expected_version` raises ConflictError and writes nothing."""
    with transaction.atomic():
        customer = _locked(customer_id)
        if customer.version != expected_version:
            _raise_conflict(customer_id, expected_version)
        before = customer_snapshot(customer)
        birthday_before = customer.birthday
        phones, emails = _checked_input(customer, data, new=False)
        customer_derive(customer, birthday_before=birthday_before)
        _write_related(customer, data, phones, emails)
        return _save_change(customer, actor=actor, expected_version=expected_version, before=before)


def customer_stoplist_add(
    *, actor: Any, customer_id: int, expected_version: int, reason: str, comment: str = ""
) -> Customer:
    if reason not in StopListReason.values:
        raise ValidationError({"reason": _("Choose a reason for the stop-list.")})
    with transaction.atomic():
        customer = _locked(customer_id)
        if customer.version != expected_version:
            _raise_conflict(customer_id, expected_version)
        before = customer_snapshot(customer)
        customer.status = CustomerStatus.STOPLISTED
        customer.stoplist_reason = reason
        customer.stoplist_comment = comment.strip()
        customer.stoplisted_at = timezone.now()
        return _save_change(
            customer,
            actor=actor,
            expected_version=expected_version,
            before=before,
            timeline_kind=TimelineKind.STOPLISTED,
            timeline_data={"reason": reason},
            webhook_event=CUSTOMER_STOPLISTED,
            webhook_extra={"reason": reason},
        )


def customer_status_set(
    *, actor: Any, customer_id: int, expected_version: int, status: str
) -> Customer:
    """Archive, restore, or take off the stop-list (status back to active)."""
    if status not in (CustomerStatus.ACTIVE, CustomerStatus.ARCHIVED):
        raise DomainError(_("Use the stop-list action to stop-list a customer."))
    with transaction.atomic():
        customer = _locked(customer_id)
        if customer.version != expected_version:
            _raise_conflict(customer_id, expected_version)
        before = customer_snapshot(customer)
        previous = customer.status
        customer.status = status
        customer.stoplist_reason = ""
        customer.stoplist_comment = ""
        customer.stoplisted_at = None
        if previous == CustomerStatus.STOPLISTED:
            kind = TimelineKind.UNSTOPLISTED
        elif status == CustomerStatus.ARCHIVED:
            kind = TimelineKind.ARCHIVED
        else:
            kind = TimelineKind.RESTORED
        return _save_change(
            customer,
            actor=actor,
            expected_version=expected_version,
            before=before,
            timeline_kind=kind,
            timeline_data={"from": previous, "to": status},
        )


def customer_delete(*, actor: Any, customer_id: int, expected_version: int | None = None) -> None:
    """Delete a card; with `expected_version`, refuse if it changed since it was shown."""
    with transaction.atomic():
        customer = _locked(customer_id)
        if expected_version is not None and customer.version != expected_version:
            _raise_conflict(customer_id, expected_version)
        before = customer_snapshot(customer)
        audit.record(
            action=AuditAction.DELETE,
            actor=actor,
            obj=customer,
            changes=audit.diff(before, {}, redact=REDACTED_FIELDS),
        )
        customer.delete()


def customers_bulk_tag(
    *, actor: Any, customer_ids: Sequence[int], tag_names: Sequence[str], remove: bool = False
) -> int:
    """Add (or remove) tags on many customers in a few set-based statements.

    Only customers whose tags really change get a new version, a timeline row and an audit
    row with their tag list before and after. Returns how many changed.
    """
    tags = _tags_by_name(tag_names)
    if not tags or not customer_ids:
        return 0
    through = Customer.tags.through
    names = {t.name for t in tags}
    with transaction.atomic():
        ids = list(Customer.objects.filter(pk__in=customer_ids).values_list("pk", flat=True))
        before: dict[int, set[str]] = {cid: set() for cid in ids}
        for cid, name in through.objects.filter(customer_id__in=ids).values_list(
            "customer_id", "tag__name"
        ):
            before[cid].add(name)
        if remove:
            after = {cid: held - names for cid, held in before.items()}
        else:
            after = {cid: held | names for cid, held in before.items()}
        changed = [cid for cid in ids if after[cid] != before[cid]]
        if not changed:
            return 0
        if remove:
            through.objects.filter(customer_id__in=changed, tag__in=tags).delete()
        else:
            through.objects.bulk_create(
                [through(customer_id=cid, tag_id=t.pk) for cid in changed for t in tags],
                ignore_conflicts=True,
            )
        Customer.objects.filter(pk__in=changed).update(
            version=F("version") + 1, updated_at=timezone.now()
        )
        kind = TimelineKind.UNTAGGED if remove else TimelineKind.TAGGED
        sorted_names = sorted(names)
        TimelineEvent.objects.bulk_create(
            [
                TimelineEvent(
                    customer_id=cid,
                    kind=kind,
                    actor=audit.staff_actor(actor),
                    data={"tags": sorted_names},
                )
                for cid in changed
            ]
        )
        audit.record_many(
            action=AuditAction.UPDATE,
            actor=actor,
            objects=Customer.objects.filter(pk__in=changed),
            changes=lambda c: {"tags": [sorted(before[c.pk]), sorted(after[c.pk])]},
            extra=lambda c: {"bulk": "untag" if remove else "tag", "version": c.version},
        )
    return len(changed)


def customers_bulk_assign_manager(
    *, actor: Any, customer_ids: Sequence[int], manager_id: int | None
) -> int:
    with transaction.atomic():
        customers = list(Customer.objects.filter(pk__in=customer_ids))
        changed = [c for c in customers if c.manager_id != manager_id]
        if not changed:
            return 0
        names = _usernames([manager_id, *(c.manager_id for c in changed)])
        Customer.objects.filter(pk__in=[c.pk for c in changed]).update(
            manager_id=manager_id, version=F("version") + 1, updated_at=timezone.now()
        )
        TimelineEvent.objects.bulk_create(
            [
                TimelineEvent(
                    customer_id=c.pk,
                    kind=TimelineKind.MANAGER,
                    actor=audit.staff_actor(actor),
                    data={"from": c.manager_id, "to": manager_id},
                )
                for c in changed
            ]
        )
        audit.record_many(
            action=AuditAction.UPDATE,
            actor=actor,
            objects=changed,
            changes=lambda c: {"manager": [names.get(c.manager_id), names.get(manager_id)]},
            extra=lambda c: {"bulk": "assign_manager", "version": c.version + 1},
        )
    return len(changed)


def customer_tag_add(*, actor: Any, customer_id: int, tag_name: str) -> int:
    return customers_bulk_tag(actor=actor, customer_ids=[customer_id], tag_names=[tag_name])


def customer_tag_remove(*, actor: Any, customer_id: int, tag_name: str) -> int:
    return customers_bulk_tag(
        actor=actor, customer_ids=[customer_id], tag_names=[tag_name], remove=True
    )


# ---------------------------------------------------------------- tag catalogue, custom fields


TAG_COLORS = ("secondary", "primary", "success", "danger", "warning", "info", "dark")


def _tag_name_clean(name: str, *, exclude_id: int | None = None) -> str:
    clean = " ".join(name.split())[:60]
    if not clean:
        raise ValidationError({"name": _("Enter a name for the tag.")})
    taken = Tag.objects.filter(name__iexact=clean)
    if exclude_id is not None:
        taken = taken.exclude(pk=exclude_id)
    if taken.exists():
        raise ValidationError({"name": _("A tag with this name already exists.")})
    return clean


def _tag_color_clean(color: str) -> str:
    if color not in TAG_COLORS:
        raise ValidationError({"color": _("Choose one of the offered colours.")})
    return color


def tag_create(*, actor: Any, name: str, color: str = "secondary") -> Tag:
    with transaction.atomic():
        tag = Tag.objects.create(name=_tag_name_clean(name), color=_tag_color_clean(color))
        audit.record(
            action=AuditAction.CREATE,
            actor=actor,
            obj=tag,
            changes={"name": [None, tag.name], "color": [None, tag.color]},
        )
    return tag


def tag_rename(*, actor: Any, tag_id: int, name: str, color: str | None = None) -> Tag:
    with transaction.atomic():
        tag = Tag.objects.select_for_update().get(pk=tag_id)
        before = {"name": tag.name, "color": tag.color}
        tag.name = _tag_name_clean(name, exclude_id=tag.pk)
        if color is not None:
            tag.color = _tag_color_clean(color)
        changes = audit.diff(before, {"name": tag.name, "color": tag.color})
        if changes:
            tag.save(update_fields=["name", "color"])
            audit.record(action=AuditAction.UPDATE, actor=actor, obj=tag, changes=changes)
    return tag


def tag_delete(*, actor: Any, tag_id: int) -> int:
    """Delete a tag from the catalogue and from every customer; returns how many had it."""
    with transaction.atomic():
        tag = Tag.objects.select_for_update().get(pk=tag_id)
        count = Customer.tags.through.objects.filter(tag_id=tag.pk).count()
        audit.record(
            action=AuditAction.DELETE,
            actor=actor,
            obj=tag,
            changes={"name": [tag.name, None]},
            extra={"customers": count},
        )
        tag.delete()
    return count


def custom_field_problems(
    definition: CustomFieldDefinition, *, exclude: Collection[str] = ()
) -> dict[str, list[str]]:
    """Every problem of an unsaved definition at once (the model's checks and the rule on
    choices), so the form reports them in one round; `exclude`: fields already in error."""
    problems: dict[str, list[str]] = {}
    try:
        definition.full_clean(exclude=list(exclude))
    except ValidationError as exc:
        for field, errors in exc.error_dict.items():
            for error in errors:
                # Django's own wording reads badly in Russian ("с таким ключ").
                if field == "key" and error.code == "unique":
                    messages = [str(_("A custom field with this key already exists."))]
                else:
                    messages = list(error.messages)
                problems.setdefault(field, []).extend(messages)
    no_choices = definition.field_type == CustomFieldType.CHOICE and not definition.choices
    if no_choices and "choices" not in exclude and "field_type" not in exclude:
        problems.setdefault("choices", []).append(str(_("List at least one choice.")))
    return problems


def custom_field_save(
    *,
    actor: Any,
    definition_id: int | None = None,
    key: str,
    label: str,
    field_type: str,
    choices: Sequence[str] = (),
    required: bool = False,
    position: int = 0,
) -> CustomFieldDefinition:
    """Define a custom field, or change one. The key stays fixed once values use it."""
    with transaction.atomic():
        if definition_id is None:
            definition = CustomFieldDefinition(key=key)
            before: dict[str, Any] = {}
        else:
            definition = CustomFieldDefinition.objects.select_for_update().get(pk=definition_id)
            before = {
                f: getattr(definition, f)
                for f in ("key", "label", "field_type", "choices", "required", "position")
            }
        definition.label = label.strip()
        definition.field_type = field_type
        definition.choices = [c.strip() for c in choices if c.strip()]
        definition.required = required
        definition.position = position
        problems = custom_field_problems(definition)
        if problems:
            raise ValidationError(problems)
        definition.save()
        after = {
            f: getattr(definition, f)
            for f in ("key", "label", "field_type", "choices", "required", "position")
        }
        audit.record(
            action=AuditAction.UPDATE if before else AuditAction.CREATE,
            actor=actor,
            obj=definition,
            changes=audit.diff(before, after),
        )
    return definition


def customer_upsert(*, actor: Any, data: CustomerInput) -> tuple[Customer, bool]:
    """Update the customer with the same external id, else e-mail, else phone; or create one.

    Returns (customer, created). The update is applied to the current version: the caller
    states what the customer is now, not a change to a version it has read. Upserts naming
    the same external id, e-mail or phone run one after another (a lock on those keys, then
    the lookup, then the write, in one transaction), so concurrent pushes of one customer
    all succeed instead of racing to create it twice or updating a version another changed.
    """
    from clientbase.orders.services import CustomerRef

    ref = CustomerRef(
        external_id=str(data.fields.get("external_id") or ""),
        email=next((e.address for e in data.emails or [] if e.address), ""),
        phone=next((p.number for p in data.phones or [] if p.number), ""),
    )
    try:
        return _upsert_locked(actor=actor, data=data, ref=ref)
    except IntegrityError:
        # Someone other than an upsert (the card form, an import) created the same external
        # id in between: the second round finds and updates that customer.
        return _upsert_locked(actor=actor, data=data, ref=ref)


def _upsert_locked(*, actor: Any, data: CustomerInput, ref: Any) -> tuple[Customer, bool]:
    # The lock an order for a new customer takes too (orders.services.customer_resolve): an
    # upsert and an order naming one new person do not create them twice either.
    from clientbase.orders.services import customer_find, customer_ref_lock

    with transaction.atomic():
        customer_ref_lock(ref)
        found = customer_find(ref)
        if found is None:
            return customer_create(actor=actor, data=data, confirm_duplicate=True), True
        # The version under the row lock: a card editor saving at the same moment makes this
        # upsert wait, not fail.
        version = (
            Customer.objects.select_for_update().values_list("version", flat=True).get(pk=found.pk)
        )
        updated = customer_update(
            actor=actor, customer_id=found.pk, expected_version=version, data=data
        )
        return updated, False
