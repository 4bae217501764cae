"""The standard functional departments, and an audit log the database keeps append-only."""

from django.db import migrations

DEPARTMENTS = [
    ("public-security", "公安"),
    ("civil-affairs", "民政"),
    ("housing", "住房和城乡建设"),
    ("urban-management", "城市管理"),
    ("market-supervision", "市场监督管理"),
    ("ecology-environment", "生态环境"),
    ("emergency-management", "应急管理"),
    ("water-affairs", "水务"),
]


def add_departments(apps, schema_editor):
    Department = apps.get_model("accounts", "Department")
    for code, name in DEPARTMENTS:
        Department.objects.get_or_create(code=code, defaults={"name": name})


# Entries can only be added. The one change allowed is the actor becoming NULL when a user is
# deleted (the entry keeps actor_email); anything else raises.
APPEND_ONLY_SQL = """
CREATE FUNCTION auditlog_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unchanged auditlog_logentry%ROWTYPE;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.actor_id IS NULL THEN
        unchanged := OLD;
        unchanged.actor_id := NULL;
        IF unchanged IS NOT DISTINCT FROM NEW THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER auditlog_append_only BEFORE UPDATE OR DELETE ON auditlog_logentry
    FOR EACH ROW EXECUTE FUNCTION auditlog_append_only();
"""

APPEND_ONLY_REVERSE_SQL = """
DROP TRIGGER IF EXISTS auditlog_append_only ON auditlog_logentry;
DROP FUNCTION IF EXISTS auditlog_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auditlog", "0017_add_actor_email"),
    ]

    operations = [
        migrations.RunPython(add_departments, migrations.RunPython.noop),
        migrations.RunSQL(APPEND_ONLY_SQL, APPEND_ONLY_REVERSE_SQL),
    ]
