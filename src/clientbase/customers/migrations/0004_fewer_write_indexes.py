# Four indexes that only cost inserts: customer.manager and customer.created_by (the first is
# covered by customer_manager_idx, the second is never searched) and the customer column of
# phones and e-mails (covered by their unique (customer, ...) constraints).
#
# Dropped by name rather than by AlterField: on PostgreSQL, AlterField(db_index=False) also
# drops every other single-column index on the column, which took the partial unique indexes
# phone_one_primary and email_one_primary with it; on SQLite it rebuilds the whole table.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

DROPPED = [
    ("customers_customer", "created_by_id", "customers_customer_created_by_id_e3e9e010"),
    ("customers_customer", "manager_id", "customers_customer_manager_id_3de7daeb"),
    ("customers_customerphone", "customer_id", "customers_customerphone_customer_id_f2850eb1"),
    ("customers_customeremail", "customer_id", "customers_customeremail_customer_id_1fe27408"),
]


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0003_segment_count_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="customer",
                    name="created_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="customer",
                    name="manager",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="customers",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="responsible manager",
                    ),
                ),
                migrations.AlterField(
                    model_name="customeremail",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="emails",
                        to="customers.customer",
                    ),
                ),
                migrations.AlterField(
                    model_name="customerphone",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="phones",
                        to="customers.customer",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")',
                )
                for table, column, name in DROPPED
            ],
        )
    ]
