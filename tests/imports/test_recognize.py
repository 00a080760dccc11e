"""Column recognition: other systems' real exports, synonyms in three languages, content guesses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clientbase.core import file_fields as catalogue
from clientbase.imports.recognize import ColumnGuess, Recognition, headers_key, recognize
from clientbase.imports.synonyms import CUSTOMER_SYNONYMS, ORDER_SYNONYMS, SYSTEMS


def mapping(result: Recognition) -> dict[str, str | None]:
    return {c.header: c.field for c in result.columns}


def by_header(result: Recognition, header: str) -> ColumnGuess:
    return next(c for c in result.columns if c.header == header)


def no_samples(headers: list[str]) -> list[list[str]]:
    return [[] for _ in headers]


# --- other systems' exports: header list as the system writes it -> expected field ----------

SHOPIFY_CUSTOMERS_OLD = {
    "First Name": "first_name",
    "Last Name": "last_name",
    "Email": "email",
    "Company": "company_name",
    "Address1": "address",
    "Address2": None,
    "City": "city",
    "Province": "region",
    "Province Code": None,
    "Country": None,
    "Country Code": None,
    "Zip": "postal_code",
    "Phone": "phone",
    "Accepts Marketing": "consent_email",
    "Total Spent": None,
    "Total Orders": None,
    "Tags": "tags",
    "Note": "notes",
    "Tax Exempt": None,
}

SHOPIFY_CUSTOMERS_2023 = {
    "Customer ID": "external_id",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Email": "email",
    "Accepts Email Marketing": "consent_email",
    "Default Address Company": "company_name",
    "Default Address Address1": "address",
    "Default Address Address2": None,
    "Default Address City": "city",
    "Default Address Province Code": "region",
    "Default Address Country Code": None,
    "Default Address Zip": "postal_code",
    "Default Address Phone": "phone",
    "Phone": "phone",
    "Accepts SMS Marketing": "consent_sms",
    "Total Spent": None,
    "Total Orders": None,
    "Note": "notes",
    "Tax Exempt": None,
    "Tags": "tags",
}

SHOPIFY_ORDERS = {
    "Name": "order_id",
    "Email": "customer_email",
    "Financial Status": "status",
    "Paid at": None,
    "Fulfillment Status": None,
    "Fulfilled at": None,
    "Accepts Marketing": None,
    "Currency": "currency",
    "Subtotal": "subtotal",
    "Shipping": "delivery_cost",
    "Taxes": None,
    "Total": "total",
    "Discount Code": "coupon",
    "Discount Amount": "discount",
    "Shipping Method": "delivery_method",
    "Created at": "placed_at",
    "Lineitem quantity": "item_quantity",
    "Lineitem name": "item_name",
    "Lineitem price": "item_price",
    "Lineitem compare at price": None,
    "Lineitem sku": "item_sku",
    "Lineitem requires shipping": None,
    "Lineitem taxable": None,
    "Lineitem fulfillment status": None,
    "Billing Name": "customer_full_name",
    "Billing Street": None,
    "Billing Address1": None,
    "Billing Address2": None,
    "Billing Company": None,
    "Billing City": None,
    "Billing Zip": None,
    "Billing Province": None,
    "Billing Country": None,
    "Billing Phone": None,
    "Shipping Name": None,
    "Shipping Street": "delivery_address",
    "Shipping Address1": None,
    "Shipping Address2": None,
    "Shipping Company": None,
    "Shipping City": None,
    "Shipping Zip": None,
    "Shipping Province": None,
    "Shipping Country": None,
    "Shipping Phone": None,
    "Notes": None,
    "Note Attributes": None,
    "Cancelled at": None,
    "Payment Method": "payment_method",
    "Payment Reference": None,
    "Refunded Amount": None,
    "Vendor": None,
    "Id": None,
    "Tags": None,
    "Risk Level": None,
    "Source": None,
    "Lineitem discount": None,
    "Phone": "customer_phone",
}

WOOCOMMERCE_CUSTOMERS = {
    "Customer ID": "external_id",
    "Username": None,
    "Email": "email",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Billing First Name": None,
    "Billing Last Name": None,
    "Billing Company": "company_name",
    "Billing Email": "email",
    "Billing Phone": "phone",
    "Billing Address 1": "address",
    "Billing Address 2": None,
    "Billing Postcode": "postal_code",
    "Billing City": "city",
    "Billing State": "region",
    "Billing Country": None,
    "Shipping First Name": None,
    "Shipping Last Name": None,
    "Shipping Address 1": None,
    "Shipping City": None,
    "Shipping Postcode": None,
    "Shipping Country": None,
    "Total Spent": None,
    "Order Count": None,
    "Date Registered": "registered_at",
}

WOOCOMMERCE_ANALYTICS_CUSTOMERS = {
    "Name": "full_name",
    "Username": None,
    "Last active": None,
    "Sign up": "registered_at",
    "Email": "email",
    "Orders": None,
    "Total spend": None,
    "AOV": None,
    "Country / Region": None,
    "City": "city",
    "Region": "region",
    "Postal code": "postal_code",
}

WOOCOMMERCE_ORDERS = {
    "Order ID": None,
    "Order Number": "order_id",
    "Order Date": "placed_at",
    "Order Status": "status",
    "Order Total": "total",
    "Customer Email (Billing)": "customer_email",
    "Billing First Name": "customer_first_name",
    "Billing Last Name": "customer_last_name",
    "Billing Phone": "customer_phone",
    "Payment Method Title": "payment_method",
    "Shipping Method Title": "delivery_method",
    "Coupon Code": "coupon",
    "Item SKU": "item_sku",
    "Item Name": "item_name",
    "Quantity": "item_quantity",
    "Item Cost": "item_price",
}

# "Advanced Order Export For WooCommerce": qualifiers in brackets after the field.
WOOCOMMERCE_ORDERS_BRACKETED = {
    "Order Number": "order_id",
    "Order Status": "status",
    "Order Date": "placed_at",
    "First Name (Billing)": "customer_first_name",
    "Last Name (Billing)": "customer_last_name",
    "Email (Billing)": "customer_email",
    "Phone (Billing)": "customer_phone",
    "First Name (Shipping)": None,
    "Last Name (Shipping)": None,
    "Order Total Amount": "total",
    "SKU": "item_sku",
    "Item Name": "item_name",
    "Quantity (- Refund)": "item_quantity",
    "Item Cost": "item_price",
}

INSALES_CUSTOMERS = {
    "ID клиента": "external_id",
    "Фамилия": "last_name",
    "Имя": "first_name",
    "Отчество": "middle_name",
    "Email": "email",
    "Телефон": "phone",
    "Город": "city",
    "Адрес": "address",
    "Дата регистрации": "registered_at",
    "Подписан на новости": "consent_email",
    "Группа клиентов": None,
    "Бонусные баллы": None,
    "Теги": "tags",
}

INSALES_ORDERS = {
    "Номер заказа": "order_id",
    "Дата создания": "placed_at",
    "Статус": "status",
    "Статус оплаты": None,
    "Сумма заказа": "total",
    "Стоимость доставки": "delivery_cost",
    "Способ доставки": "delivery_method",
    "Способ оплаты": "payment_method",
    "ID клиента": "customer_external_id",
    "Контактное лицо": "customer_full_name",
    "Телефон": "customer_phone",
    "Email": "customer_email",
    "Адрес доставки": "delivery_address",
    "Название товара": "item_name",
    "Артикул": "item_sku",
    "Количество": "item_quantity",
    "Цена": "item_price",
}

TILDA_LEADS = {
    "Name": "full_name",
    "Email": "email",
    "Phone": "phone",
    "Textarea": "notes",
    "sent": "registered_at",
    "referer": None,
    "requestid": None,
    "tranid": None,
    "formid": None,
    "formname": None,
}

MAILCHIMP = {
    "Email Address": "email",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Address": "address",
    "Phone Number": "phone",
    "Birthday": "birthday",
    "MEMBER_RATING": None,
    "OPTIN_TIME": "registered_at",
    "OPTIN_IP": None,
    "CONFIRM_TIME": None,
    "CONFIRM_IP": None,
    "LATITUDE": None,
    "LONGITUDE": None,
    "GMTOFF": None,
    "DSTOFF": None,
    "TIMEZONE": None,
    "CC": None,
    "REGION": None,
    "LAST_CHANGED": None,
    "LEID": None,
    "EUID": None,
    "NOTES": "notes",
    "TAGS": "tags",
}

# Older audiences and API-made exports name the fields by their merge tags.
MAILCHIMP_MERGE_TAGS = {
    "Email": "email",
    "FNAME": "first_name",
    "LNAME": "last_name",
    "PHONE": "phone",
    "MEMBER_RATING": None,
    "OPTIN_TIME": "registered_at",
    "OPTIN_IP": None,
    "CONFIRM_TIME": None,
    "LAST_CHANGED": None,
    "LEID": None,
    "EUID": None,
    "NOTES": "notes",
}

BREVO = {
    "EMAIL": "email",
    "FIRSTNAME": "first_name",
    "LASTNAME": "last_name",
    "SMS": "phone",
    "WHATSAPP": "phone",
    "LANDLINE_NUMBER": "phone",
    "EXT_ID": "external_id",
    "EMAIL_BLACKLISTED": None,
    "SMS_BLACKLISTED": None,
    "ADDED_TIME": "registered_at",
    "MODIFIED_TIME": None,
}

BREVO_RUSSIAN = {
    "EMAIL": "email",
    "ИМЯ": "first_name",
    "ФАМИЛИЯ": "last_name",
    "SMS": "phone",
    "EMAIL_BLACKLISTED": None,
    "SMS_BLACKLISTED": None,
    "ADDED_TIME": "registered_at",
}

BITRIX24_CONTACTS = {
    "ID": "external_id",
    "Обращение": None,
    "Имя": "first_name",
    "Второе имя": "middle_name",
    "Фамилия": "last_name",
    "Дата рождения": "birthday",
    "Рабочий телефон": "phone",
    "Мобильный телефон": "phone",
    "Номер факса": None,
    "Домашний телефон": "phone",
    "Номер пейджера": None,
    "Телефон для рассылок": "phone",
    "Другой телефон": "phone",
    "Корпоративный сайт": None,
    "Рабочий e-mail": "email",
    "Частный e-mail": "email",
    "E-mail для рассылок": "email",
    "Другой e-mail": "email",
    "Компания": "company_name",
    "Должность": None,
    "Комментарий": "notes",
    "Тип контакта": None,
    "Источник": None,
    "Дополнительно об источнике": None,
    "Ответственный": None,
    "Кем создан": None,
    "Дата создания": "registered_at",
    "Кем изменен": None,
    "Дата изменения": None,
    "Адрес": "address",
    "Город": "city",
    "Регион": "region",
    "Почтовый индекс": "postal_code",
    "Страна": None,
}

AMOCRM_CONTACTS = {
    "ID": "external_id",
    "Полное имя контакта": "full_name",
    "Компания контакта": "company_name",
    "Ответственный": None,
    "Дата создания контакта": "registered_at",
    "Кем создан контакт": None,
    "Теги": "tags",
    "Рабочий телефон (контакт)": "phone",
    "Мобильный телефон (контакт)": "phone",
    "Домашний телефон (контакт)": "phone",
    "Рабочий email (контакт)": "email",
    "Личный email (контакт)": "email",
    "Должность (контакт)": None,
    "Адрес (компания)": "legal_address",
    "Web (компания)": None,
}

RETAILCRM_CUSTOMERS = {
    "ID": None,
    "Внешний ID": "external_id",
    "Фамилия": "last_name",
    "Имя": "first_name",
    "Отчество": "middle_name",
    "Email": "email",
    "Телефон": "phone",
    "Дата рождения": "birthday",
    "Пол": "gender",
    "Тип клиента": "kind",
    "VIP": "vip",
    "Плохой клиент": None,
    "Количество заказов": None,
    "Средний чек": None,
    "Сумма заказов": None,
    "Комментарий оператора": "notes",
    "Индекс": "postal_code",
    "Регион": "region",
    "Город": "city",
    "Адрес": "address",
    "Дата создания": "registered_at",
}

RETAILCRM_ORDERS = {
    "ID": None,
    "Номер заказа": "order_id",
    "Внешний ID клиента": "customer_external_id",
    "Дата оформления": "placed_at",
    "Статус": "status",
    "Статус оплаты": None,
    "Сумма": "total",
    "Стоимость доставки": "delivery_cost",
    "Тип доставки": "delivery_method",
    "Тип оплаты": "payment_method",
    "Фамилия": "customer_last_name",
    "Имя": "customer_first_name",
    "Отчество": None,
    "Телефон": "customer_phone",
    "Email": "customer_email",
    "Комментарий клиента": None,
}


@pytest.mark.parametrize(
    ("expected", "kind", "system"),
    [
        pytest.param(SHOPIFY_CUSTOMERS_OLD, "customers", "shopify", id="shopify-customers-old"),
        pytest.param(SHOPIFY_CUSTOMERS_2023, "customers", "shopify", id="shopify-customers-2023"),
        pytest.param(SHOPIFY_ORDERS, "orders", "shopify", id="shopify-orders"),
        pytest.param(WOOCOMMERCE_CUSTOMERS, "customers", "woocommerce", id="woo-customers"),
        pytest.param(
            WOOCOMMERCE_ANALYTICS_CUSTOMERS, "customers", "woocommerce", id="woo-analytics"
        ),
        pytest.param(WOOCOMMERCE_ORDERS, "orders", "woocommerce", id="woo-orders"),
        pytest.param(
            WOOCOMMERCE_ORDERS_BRACKETED, "orders", "woocommerce", id="woo-orders-bracketed"
        ),
        pytest.param(INSALES_CUSTOMERS, "customers", "insales", id="insales-customers"),
        pytest.param(INSALES_ORDERS, "orders", "insales", id="insales-orders"),
        pytest.param(TILDA_LEADS, "customers", "tilda", id="tilda"),
        pytest.param(MAILCHIMP, "customers", "mailchimp", id="mailchimp"),
        pytest.param(MAILCHIMP_MERGE_TAGS, "customers", "mailchimp", id="mailchimp-merge-tags"),
        pytest.param(BREVO, "customers", "brevo", id="brevo"),
        pytest.param(BREVO_RUSSIAN, "customers", "brevo", id="brevo-russian"),
        pytest.param(BITRIX24_CONTACTS, "customers", "bitrix24", id="bitrix24"),
        pytest.param(AMOCRM_CONTACTS, "customers", "amocrm", id="amocrm"),
        pytest.param(RETAILCRM_CUSTOMERS, "customers", "retailcrm", id="retailcrm-customers"),
        pytest.param(RETAILCRM_ORDERS, "orders", "retailcrm", id="retailcrm-orders"),
    ],
)
def test_system_exports(expected: dict[str, str | None], kind: str, system: str) -> None:
    headers = list(expected)
    result = recognize(headers, no_samples(headers), kind)
    assert result.system == system
    assert mapping(result) == expected
    for column in result.columns:
        if column.field is None:
            assert (column.reason, column.confidence) == ("none", 0.0)
        else:
            assert 0.5 <= column.confidence <= 1.0


def test_an_order_export_read_as_a_customer_file_gives_the_buyers() -> None:
    headers = list(WOOCOMMERCE_ORDERS)
    result = recognize(headers, no_samples(headers), "customers")
    assert result.system == "woocommerce"
    assert {c.header: c.field for c in result.columns if c.field} == {
        "Customer Email (Billing)": "email",
        "Billing First Name": "first_name",
        "Billing Last Name": "last_name",
        "Billing Phone": "phone",
    }
    headers = list(SHOPIFY_ORDERS)
    result = recognize(headers, no_samples(headers), "customers")
    assert by_header(result, "Name").field is None  # the order number
    assert by_header(result, "Billing Name").field == "full_name"


def test_system_columns_are_certain() -> None:
    result = recognize(list(SHOPIFY_ORDERS), no_samples(list(SHOPIFY_ORDERS)), "orders")
    name = by_header(result, "Name")
    assert (name.field, name.confidence, name.reason) == ("order_id", 1.0, "system")


def test_tilda_quote_prefixed_phones_and_one_word_names() -> None:
    headers = ["Name", "Email", "Phone", "sent", "referer", "requestid"]
    samples = [
        ["Анна", "Иван", "Мария"],
        ["anna@example.com", "ivan@example.com", "maria@example.com"],
        ["'+7 (916) 123-45-67", "'+7 (903) 765-43-21", "'+7 (925) 111-22-33"],
        ["2024-03-01 12:30:11", "2024-03-02 09:01:45", "2024-03-02 18:20:00"],
        ["https://shop.example/", "", ""],
        ["1234:567", "1234:568", "1234:569"],
    ]
    result = recognize(headers, samples, "customers")
    assert result.system == "tilda"
    assert mapping(result) == {
        "Name": "full_name",
        "Email": "email",
        "Phone": "phone",
        "sent": "registered_at",
        "referer": None,
        "requestid": None,
    }


def test_no_system_for_a_plain_file() -> None:
    headers = ["ФИО", "Телефон", "Email", "Город"]
    assert recognize(headers, no_samples(headers), "customers").system is None


# --- synonyms --------------------------------------------------------------------------------

CUSTOMER_HEADERS = [
    # Russian
    ("ФИО", "full_name"),
    ("Ф.И.О.", "full_name"),
    ("Фамилия", "last_name"),
    ("Имя", "first_name"),
    ("Отчество", "middle_name"),
    ("Моб. телефон", "phone"),
    ("Мобильный", "phone"),
    ("Тел.", "phone"),
    ("Сотовый", "phone"),
    ("Рабочий телефон", "phone"),
    ("Телефон (моб.)", "phone"),
    ("Почта", "email"),
    ("E-mail", "email"),
    ("E-mail*", "email"),
    ("Эл. почта", "email"),
    ("Электронная почта", "email"),
    ("Дата рождения", "birthday"),
    ("Дата рождения (дд.мм.гггг)", "birthday"),
    ("Д.р.", "birthday"),
    ("ИНН", "inn"),
    ("КПП", "kpp"),
    ("ОГРН", "ogrn"),
    ("БИК", "bank_bic"),
    ("Р/с", "bank_account"),
    ("Расчётный счёт", "bank_account"),
    ("Юридический адрес", "legal_address"),
    ("Контактное лицо", "full_name"),
    ("Клиент", "full_name"),
    ("Покупатель", "full_name"),
    ("Контакт", "full_name"),
    ("Наименование организации", "company_name"),
    ("Организация", "company_name"),
    ("Компания", "company_name"),
    ("Адрес доставки", "address"),
    ("Город", "city"),
    ("Индекс", "postal_code"),
    ("Область", "region"),
    ("Регион", "region"),
    ("Область/Регион", "region"),
    ("Пол", "gender"),
    ("Дата регистрации", "registered_at"),
    ("Теги", "tags"),
    ("Метки", "tags"),
    ("Комментарий", "notes"),
    ("Примечание", "notes"),
    ("Согласие на рассылку", "consent_email"),
    ("Подписка", "consent_email"),
    ("Согласие на SMS", "consent_sms"),
    ("ID клиента", "external_id"),
    ("Тип клиента", "kind"),
    ("VIP", "vip"),
    ("  ТЕЛЕФОН  ", "phone"),
    ("* Фамилия *", "last_name"),
    ("Телефон 2", "phone"),
    # English
    ("Full name", "full_name"),
    ("First name", "first_name"),
    ("Last name", "last_name"),
    ("Middle name", "middle_name"),
    ("E-mail address", "email"),
    ("Mobile phone", "phone"),
    ("Date of birth", "birthday"),
    ("Zip code", "postal_code"),
    ("State", "region"),
    ("Company name", "company_name"),
    ("Email Marketing Consent", "consent_email"),
    ("SMS marketing consent", "consent_sms"),
    ("customer_id", "external_id"),
    ("firstName", "first_name"),
    ("LASTNAME", "last_name"),
    ("Gender", "gender"),
    ("Customer since", "registered_at"),
    # Romanian
    ("Nume complet", "full_name"),
    ("Prenume", "first_name"),
    ("Nume de familie", "last_name"),
    ("Adresa de e-mail", "email"),
    ("Adresă de e-mail", "email"),
    ("Telefon", "phone"),
    ("Telefon mobil", "phone"),
    ("Data nașterii", "birthday"),
    ("Data naşterii", "birthday"),
    ("Oraș", "city"),
    ("Județ", "region"),
    ("Cod poștal", "postal_code"),
    ("Adresa", "address"),
    ("Companie", "company_name"),
    ("Etichete", "tags"),
    # Not ours: a Romanian tax code is no Russian INN; order words in a customer file.
    ("CUI", None),
    ("Cod fiscal", None),
    ("Номер заказа", None),
    ("Сумма", None),
    # Flipped or other meanings: an opt-out, consent to data processing, a flag, a web address.
    ("Unsubscribed", None),
    ("Отписан от рассылки", None),
    ("Согласие на обработку ПД", None),
    ("Согласие на обработку персональных данных", None),
    ("Email подтвержден", None),
    ("Адрес сайта", None),
]


@pytest.mark.parametrize(("header", "field"), CUSTOMER_HEADERS)
def test_customer_synonyms(header: str, field: str | None) -> None:
    (column,) = recognize([header], [[]], "customers").columns
    assert column.field == field
    if field is not None:
        assert column.reason == "synonym"


ORDER_HEADERS = [
    ("Номер заказа", "order_id"),
    ("№ заказа", "order_id"),
    ("Дата заказа", "placed_at"),
    ("Сумма", "total"),
    ("Итого", "total"),
    ("Статус", "status"),
    ("Способ оплаты", "payment_method"),
    ("Доставка", "delivery_method"),
    ("Скидка", "discount"),
    ("Промокод", "coupon"),
    ("Артикул", "item_sku"),
    ("Товар", "item_name"),
    ("Количество", "item_quantity"),
    ("Кол-во", "item_quantity"),
    ("Цена", "item_price"),
    ("Валюта", "currency"),
    ("Категория", "item_category"),
    ("Адрес доставки", "delivery_address"),
    ("ID", "order_id"),
    ("Номер", "order_id"),
    ("ID клиента", "customer_external_id"),
    ("Email", "customer_email"),
    ("Телефон", "customer_phone"),
    ("Имя", "customer_first_name"),
    ("Фамилия", "customer_last_name"),
    ("ФИО", "customer_full_name"),
    ("Order #", "order_id"),
    ("Order date", "placed_at"),
    ("Grand total", "total"),
    ("Unit price", "item_price"),
    ("Qty", "item_quantity"),
    ("customer_id", "customer_external_id"),
    ("Număr comandă", "order_id"),
    ("Data comenzii", "placed_at"),
    ("Total", "total"),
    ("Stare", "status"),
    ("Reducere", "discount"),
    ("Cantitate", "item_quantity"),
    ("Preț", "item_price"),
    ("Цена, руб.", "item_price"),
    ("Кол-во, шт.", "item_quantity"),
    ("Стоимость доставки, руб.", "delivery_cost"),
    ("Сумма, ₽", "total"),
    ("Total, $", "total"),
    ("Дата рождения", None),
    ("Город", None),
    ("Дата доставки", None),
    ("Дата оплаты", None),
    ("Paid at", None),
    ("Сумма НДС", None),
]


@pytest.mark.parametrize(("header", "field"), ORDER_HEADERS)
def test_order_synonyms(header: str, field: str | None) -> None:
    (column,) = recognize([header], [[]], "orders").columns
    assert column.field == field


@pytest.mark.parametrize(
    ("header", "kind", "field"),
    [
        ("Мобильный телефон клиента 2", "customers", "phone"),
        ("Адрес электронной почты покупателя", "customers", "email"),
        ("Почтовый индекс получателя", "customers", "postal_code"),
        ("Дата рождения ребёнка", "customers", "birthday"),
        ("Сумма скидки по заказу", "orders", "discount"),
        ("Стоимость доставки курьером", "orders", "delivery_cost"),
        ("Сумма без скидки", "orders", "subtotal"),
        ("Сумма со скидкой", "orders", "total"),
        ("Итоговая стоимость заказа", "orders", "total"),
        ("Телефон для связи", "orders", "customer_phone"),
    ],
)
def test_keywords_for_headers_that_are_no_exact_synonym(header: str, kind: str, field: str) -> None:
    (column,) = recognize([header], [[]], kind).columns
    assert column.field == field
    assert 0.5 <= column.confidence < 1.0


@pytest.mark.parametrize(
    ("header", "kind", "field"),
    [
        ("Телефно", "customers", "phone"),
        ("Adress", "customers", "address"),
        ("Отчетсво", "customers", "middle_name"),
        ("Comapny", "customers", "company_name"),
        ("Prenme", "customers", "first_name"),
        ("Колличество", "orders", "item_quantity"),
    ],
)
def test_typos(header: str, kind: str, field: str) -> None:
    (column,) = recognize([header], [[]], kind).columns
    assert column.field == field
    assert 0.5 <= column.confidence < 0.8


def test_every_field_has_a_russian_and_an_english_synonym() -> None:
    def is_russian(text: str) -> bool:
        return any("а" <= ch <= "я" or ch == "ё" for ch in text.lower())

    def is_english(text: str) -> bool:
        return text.isascii() and any(ch.isalpha() for ch in text)

    for kind, target_fields in catalogue.FIELDS.items():
        vocabulary = ORDER_SYNONYMS if kind == "orders" else CUSTOMER_SYNONYMS
        customer_words = {
            "customer_external_id": "external_id",
            "customer_email": "email",
            "customer_phone": "phone",
            "customer_full_name": "full_name",
            "customer_first_name": "first_name",
            "customer_last_name": "last_name",
        }
        for target in target_fields:
            synonyms = list(vocabulary.get(target.key, ()))
            synonyms += CUSTOMER_SYNONYMS.get(customer_words.get(target.key, ""), ())
            found = {"ru": False, "en": False}
            for synonym in synonyms:
                (column,) = recognize([synonym], [[]], kind).columns
                if column.field != target.key:
                    continue
                found["ru"] |= is_russian(synonym)
                found["en"] |= is_english(synonym)
            assert found == {"ru": True, "en": True}, (kind, target.key)


def test_vocabulary_names_only_catalogue_fields() -> None:
    customer_keys = set(catalogue.fields_for("customers"))
    order_keys = set(catalogue.fields_for("orders"))
    assert set(CUSTOMER_SYNONYMS) <= customer_keys
    assert set(ORDER_SYNONYMS) <= order_keys
    for fmt in SYSTEMS.values():
        assert {f for f in fmt.customers.values() if f} <= customer_keys
        assert {f for f in fmt.orders.values() if f} <= order_keys


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "samples", "kind", "expected"),
    [
        pytest.param(
            ["Имя", "Телефон"],
            [["Иванов Иван Иванович", "Петрова Анна", "Ivan Ivanov"], []],
            "customers",
            {"Имя": "full_name", "Телефон": "phone"},
            id="lone-imya-with-full-names",
        ),
        pytest.param(
            ["Имя", "Телефон"],
            [["Иван", "Анна", "Мария"], []],
            "customers",
            {"Имя": "first_name", "Телефон": "phone"},
            id="lone-imya-with-first-names",
        ),
        pytest.param(
            ["Name", "Email"],
            [["Ivan Ivanov", "Anna Smith"], []],
            "customers",
            {"Name": "full_name", "Email": "email"},
            id="lone-name-full",
        ),
        pytest.param(
            ["Имя", "Фамилия"],
            [["Иван Петрович", "Анна Сергеевна"], ["Иванов", "Петрова"]],
            "customers",
            {"Имя": "first_name", "Фамилия": "last_name"},
            id="imya-beside-last-name",
        ),
        pytest.param(
            ["Имя клиента", "Телефон"],
            [[], []],
            "customers",
            {"Имя клиента": "full_name", "Телефон": "phone"},
            id="imya-klienta",
        ),
        pytest.param(
            ["Имя клиента", "Фамилия клиента"],
            [[], []],
            "customers",
            {"Имя клиента": "first_name", "Фамилия клиента": "last_name"},
            id="imya-klienta-beside-last-name",
        ),
        pytest.param(
            ["Nume", "Prenume", "Telefon"],
            [["Popescu", "Ionescu"], ["Ion", "Maria"], []],
            "customers",
            {"Nume": "last_name", "Prenume": "first_name", "Telefon": "phone"},
            id="romanian-nume-prenume",
        ),
        pytest.param(
            ["Nume", "Telefon"],
            [["Ion Popescu", "Maria Ionescu"], []],
            "customers",
            {"Nume": "full_name", "Telefon": "phone"},
            id="romanian-nume-alone",
        ),
        pytest.param(
            ["Имя", "Телефон"],
            [["Иванов Иван", "Петрова Анна"], []],
            "orders",
            {"Имя": "customer_full_name", "Телефон": "customer_phone"},
            id="orders-lone-imya",
        ),
        pytest.param(
            ["ФИО", "Full name"],
            [[], []],
            "customers",
            {"ФИО": "full_name", "Full name": None},
            id="one-full-name-column",
        ),
    ],
)
def test_names(
    headers: list[str], samples: list[list[str]], kind: str, expected: dict[str, str | None]
) -> None:
    assert mapping(recognize(headers, samples, kind)) == expected


# --- content ---------------------------------------------------------------------------------

EMAILS = ["ivan@example.com", "anna.petrova@mail.ru", "", "ion@example.ro"]
PHONES = ["+7 916 123-45-67", "8 (903) 765-43-21", "'+7 (925) 111-22-33", "89161234567"]
BIRTHDAYS = ["24.08.1990", "01.02.1985", "1979-12-31", ""]
MOMENTS = ["2024-03-01 12:30", "2024-03-02 09:01:45", "2024-03-05T18:20:00"]
AMOUNTS = ["1 500,00", "2 300 ₽", "990.50", "12500"]


def test_content_only_customer_file() -> None:
    headers = ["Column 1", "", "Поле3", "A", "B"]
    samples = [EMAILS, PHONES, BIRTHDAYS, ["Иванов Иван", "Петрова Анна"], MOMENTS]
    result = recognize(headers, samples, "customers")
    assert [(c.field, c.reason) for c in result.columns] == [
        ("email", "content"),
        ("phone", "content"),
        ("birthday", "content"),
        (None, "none"),
        ("registered_at", "content"),
    ]
    assert all(c.confidence < 1.0 for c in result.columns)
    # All e-mail samples valid: the confidence is the content factor itself.
    assert result.columns[0].confidence == 0.9


def test_dates_with_months_in_words() -> None:
    samples = [["24 августа 1990", "1 марта 1985 г.", "Aug 24, 1990", "24-Aug-1979", "3 mai 1991"]]
    (column,) = recognize(["Столбец"], samples, "customers").columns
    assert (column.field, column.confidence) == ("birthday", 0.8)


def test_content_only_order_file() -> None:
    headers = ["Column 1", "Column 2", "Column 3", "Column 4"]
    samples = [["1001", "1002", "1003", "1004"], MOMENTS, AMOUNTS, EMAILS]
    result = recognize(headers, samples, "orders")
    assert [c.field for c in result.columns] == [None, "placed_at", "total", "customer_email"]


def test_content_confidence_is_the_share_of_matching_samples() -> None:
    half = ["ivan@example.com", "anna@example.com", "not an address", "also not", "", ""]
    (column,) = recognize(["Column"], [half], "customers").columns
    assert column.field is None  # 0.5 * 0.9 < 0.5
    most = ["a@example.com", "b@example.com", "c@example.com", "junk"]
    (column,) = recognize(["Column"], [most], "customers").columns
    assert (column.field, column.confidence) == ("email", 0.675)


def test_a_file_of_junk_headers_and_junk_values() -> None:
    headers = ["Column 1", "", "Поле1", "A", "xyz", "???", "Колонка"]
    samples = [["x", "y"], [], ["1", "2"], ["да", "нет"], ["", ""], ["!!!"], ["abc def ghi jkl"]]
    result = recognize(headers, samples, "customers")
    assert result.system is None
    assert all((c.field, c.reason, c.confidence) == (None, "none", 0.0) for c in result.columns)


def test_empty_file() -> None:
    assert recognize([], [], "customers") == Recognition(columns=[], system=None)


def test_content_vetoes_a_header_it_contradicts() -> None:
    headers = ["Телефон", "Имя", "Фамилия"]
    samples = [EMAILS, ["Иван", "Анна"], ["Иванов", "Петрова"]]
    result = recognize(headers, samples, "customers")
    assert by_header(result, "Телефон").field == "email"
    assert by_header(result, "Телефон").reason == "content"


def test_a_header_known_to_be_no_field_takes_only_contacts_from_content() -> None:
    headers = ["Дата изменения", "Username"]
    samples = [MOMENTS, EMAILS]
    result = recognize(headers, samples, "customers")
    assert [(c.field, c.reason) for c in result.columns] == [
        (None, "none"),
        ("email", "content"),
    ]


def test_inns_by_their_check_digits_not_phones() -> None:
    inns = ["7707083893", "7728168971", "500100732259", "7736207543"]
    result = recognize(["Column 1", "Column 2"], [inns, PHONES], "customers")
    assert [(c.field, c.reason) for c in result.columns] == [
        ("inn", "content"),
        ("phone", "content"),
    ]


def test_content_does_not_veto_numbers_a_phone_shape_cannot_tell() -> None:
    # Ten-digit INNs parse as phones; the header knows better.
    (column,) = recognize(
        ["ИНН"], [["7707083893", "7728168971", "5001012345"]], "customers"
    ).columns
    assert (column.field, column.reason) == ("inn", "synonym")


def test_delivery_column_of_amounts_is_its_cost() -> None:
    result = recognize(["Доставка"], [["300", "0", "450,00"]], "orders")
    assert result.columns[0].field == "delivery_cost"


# --- assignment ------------------------------------------------------------------------------


def test_at_most_one_column_per_single_field() -> None:
    headers = ["Дата рождения", "Д.р.", "Email", "E-mail", "Телефон", "Мобильный"]
    result = recognize(headers, no_samples(headers), "customers")
    assert mapping(result) == {
        "Дата рождения": "birthday",
        "Д.р.": None,  # birthday is single: the first of equals wins
        "Email": "email",
        "E-mail": "email",  # e-mail and phone are multiple
        "Телефон": "phone",
        "Мобильный": "phone",
    }
    assert by_header(result, "Д.р.").reason == "none"


@pytest.mark.parametrize(
    ("headers", "samples", "expected"),
    [
        pytest.param(
            ["ФИО", "Фамилия", "Имя"],
            [[], [], []],
            [None, "last_name", "first_name"],
            id="parts-need-no-splitting",
        ),
        pytest.param(
            ["Полное имя контакта", "Имя", "Фамилия"],
            [["Иван Петров", "Анна Смирнова", "Олег"], ["", "", "Олег"], ["", "", ""]],
            ["full_name", None, None],
            id="full-name-better-filled",
        ),
        pytest.param(
            ["ФИО", "Имя"],
            [[], []],
            ["full_name", None],
            id="first-name-beside-full-name-adds-nothing",
        ),
    ],
)
def test_one_source_of_names(
    headers: list[str], samples: list[list[str]], expected: list[str | None]
) -> None:
    result = recognize(headers, samples, "customers")
    assert [c.field for c in result.columns] == expected


def test_content_breaks_a_tie_between_equal_headers() -> None:
    headers = ["Дата", "Дата "]
    samples = [["нет", "да"], MOMENTS]
    result = recognize(headers, samples, "orders")
    assert [c.field for c in result.columns] == [None, "placed_at"]


def test_order_customer_fields_are_single() -> None:
    headers = ["Email", "Email покупателя", "Телефон", "Phone"]
    result = recognize(headers, no_samples(headers), "orders")
    assert [c.field for c in result.columns] == [
        "customer_email",
        None,
        "customer_phone",
        None,
    ]


def test_shipping_contacts_give_way_to_the_customers_own() -> None:
    headers = ["Phone", "Shipping Phone", "Shipping Address"]
    result = recognize(headers, no_samples(headers), "customers")
    assert mapping(result) == {
        "Phone": "phone",
        "Shipping Phone": None,
        "Shipping Address": "address",
    }


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            ["ID клиента", "Дата", "Сумма"],
            ["customer_external_id", "placed_at", "total"],
        ),
        (
            ["customer_id", "date", "amount"],
            ["customer_external_id", "placed_at", "total"],
        ),
        (
            ["Cod client", "Data", "Suma"],
            ["customer_external_id", "placed_at", "total"],
        ),
    ],
)
def test_minimal_order_file_from_another_system(headers: list[str], expected: list[str]) -> None:
    samples = [["C-1", "C-2", "C-1"], ["01.03.2024", "02.03.2024", "05.03.2024"], AMOUNTS[:3]]
    result = recognize(headers, samples, "orders")
    assert [c.field for c in result.columns] == expected
    assert all(c.reason == "synonym" for c in result.columns)


def test_amocrm_deals_export() -> None:
    expected = {
        "ID": "order_id",
        "Название сделки": None,
        "Бюджет": "total",
        "Ответственный": None,
        "Дата создания": "placed_at",
        "Статус сделки": "status",
        "Теги сделки": None,
        "Основной контакт": "customer_full_name",
        "Рабочий телефон (контакт)": "customer_phone",
        "Мобильный телефон (контакт)": None,
        "Рабочий email (контакт)": "customer_email",
        "Должность (контакт)": None,
        "Название (компания)": None,
    }
    result = recognize(list(expected), no_samples(list(expected)), "orders")
    assert result.system == "amocrm"
    assert mapping(result) == expected


def test_amocrm_company_columns_describe_the_company() -> None:
    headers = [
        "Название компании",
        "Рабочий телефон (компания)",
        "ИНН (компания)",
        "Полное имя контакта",
    ]
    result = recognize(headers, no_samples(headers), "customers")
    assert result.system == "amocrm"
    assert mapping(result) == {
        "Название компании": "company_name",
        "Рабочий телефон (компания)": "phone",
        "ИНН (компания)": "inn",
        "Полное имя контакта": "full_name",
    }


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        recognize(["Email"], [[]], "products")


def test_missing_samples_are_no_samples() -> None:
    result = recognize(["Email", "Column 2"], [], "customers")
    assert [c.field for c in result.columns] == ["email", None]


def test_headers_key() -> None:
    assert headers_key([" Email ", "ФИО", "Телефон"]) == "email\x1fфио\x1fтелефон"
    assert headers_key(["A"]) == headers_key(["  a"])


HEADER_WORDS = [h for h, _ in CUSTOMER_HEADERS + ORDER_HEADERS] + ["", "Column", "(", "№", "*"]


@settings(max_examples=200, deadline=None)
@given(
    headers=st.lists(st.one_of(st.sampled_from(HEADER_WORDS), st.text(max_size=30)), max_size=12),
    values=st.lists(
        st.one_of(st.sampled_from(EMAILS + PHONES + BIRTHDAYS + AMOUNTS), st.text(max_size=20)),
        max_size=8,
    ),
    kind=st.sampled_from(["customers", "orders"]),
)
def test_any_file_gets_a_well_formed_answer(
    headers: list[str], values: list[str], kind: str
) -> None:
    result = recognize(headers, [values] * len(headers), kind)
    target_fields = catalogue.fields_for(kind)
    assert [c.index for c in result.columns] == list(range(len(headers)))
    assert [c.header for c in result.columns] == headers
    taken: list[str] = []
    for column in result.columns:
        if column.field is None:
            assert (column.reason, column.confidence) == ("none", 0.0)
            continue
        assert column.field in target_fields
        assert 0.5 <= column.confidence <= 1.0
        assert column.reason in ("synonym", "system", "content")
        assert column.reason != "content" or column.confidence < 1.0
        if not target_fields[column.field].multiple:
            assert column.field not in taken
            taken.append(column.field)
