"""ExportJob, moved from the imports app with its rows: the table was renamed by
imports.0002_exportjob_moved_to_exports, so this only takes the model into this app's state."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def content_type_to_exports(apps, schema_editor):
    """The content type follows the model, so anything that points at it stays valid."""
    content_type = apps.get_model("contenttypes", "ContentType")
    if not content_type.objects.filter(app_label="exports", model="exportjob").exists():
        content_type.objects.filter(app_label="imports", model="exportjob").update(
            app_label="exports"
        )


def content_type_to_imports(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    if not content_type.objects.filter(app_label="imports", model="exportjob").exists():
        content_type.objects.filter(app_label="exports", model="exportjob").update(
            app_label="imports"
        )


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("contenttypes", "0002_remove_content_type_name"),
        ("imports", "0002_exportjob_moved_to_exports"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ExportJob',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                        ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated')),
                        ('kind', models.CharField(choices=[('customers', 'Customers'), ('orders', 'Orders')], max_length=10, verbose_name='what')),
                        ('file_format', models.CharField(choices=[('csv', 'CSV'), ('xlsx', 'XLSX')], max_length=4, verbose_name='format')),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='queued', max_length=10, verbose_name='status')),
                        ('filters', models.JSONField(blank=True, default=dict)),
                        ('segment_id', models.PositiveIntegerField(blank=True, null=True)),
                        ('columns', models.JSONField(blank=True, default=list)),
                        ('rows', models.PositiveIntegerField(default=0, verbose_name='rows')),
                        ('file_path', models.CharField(blank=True, max_length=500)),
                        ('failure', models.TextField(blank=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True, verbose_name='finished')),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='who')),
                    ],
                    options={
                        'verbose_name': 'export',
                        'verbose_name_plural': 'exports',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_to_exports, content_type_to_imports),
    ]
