"""ExportJob moves to the exports app: its table is renamed here, the model leaves this app's
state; exports.0001_initial takes it over without touching the database again. Rows are kept."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("imports", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelTable(name="exportjob", table="exports_exportjob"),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ExportJob")],
            database_operations=[],
        ),
    ]
