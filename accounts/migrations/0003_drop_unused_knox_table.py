"""Drops the table django-rest-knox's own migrations create for its default token model, which GeoGrid
replaces with accounts.ApiToken (KNOX_TOKEN_MODEL): unused, it would only block flushing users."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_departments_and_append_only_audit"), ("knox", "0009_extend_authtoken_field")]

    operations = [migrations.RunSQL("DROP TABLE IF EXISTS knox_authtoken", migrations.RunSQL.noop)]
