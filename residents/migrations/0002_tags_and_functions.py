"""The attention tags every deployment starts with, and a date parser that returns NULL instead of failing."""

from django.db import migrations

SAFE_DATE_SQL = """
CREATE FUNCTION geogrid_safe_date(value text) RETURNS date LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    parts text[];
BEGIN
    parts := regexp_match(btrim(value), '^([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})$');
    IF parts IS NULL THEN
        parts := regexp_match(btrim(value), '^([0-9]{4})([0-9]{2})([0-9]{2})$');
    END IF;
    IF parts IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN make_date(parts[1]::int, parts[2]::int, parts[3]::int);
EXCEPTION WHEN others THEN
    RETURN NULL;  -- 2024-02-30 and the like
END;
$$;
"""


DEFAULT_TAGS = [
    ("elderly_alone", "独居老人", "resident", "Aged 70 or over and living alone."),
    ("disabled", "残疾人", "resident", "Holds a disability certificate."),
    ("low_income", "低保对象", "resident", "Receives the minimum living allowance."),
    ("left_behind_child", "留守儿童", "resident", "A child whose parents both work away."),
    ("veteran", "退役军人", "resident", "Served in the armed forces."),
    ("key_person", "重点人员", "resident", "Needs regular follow-up by grid staff."),
    ("rented_out", "出租房屋", "household", "The dwelling is let to tenants."),
    ("empty_nest", "空巢家庭", "household", "Elderly members only, children living elsewhere."),
]


def add_tags(apps, schema_editor):
    AttentionTag = apps.get_model("residents", "AttentionTag")
    for code, name, applies_to, description in DEFAULT_TAGS:
        AttentionTag.objects.get_or_create(
            code=code, defaults={"name": name, "applies_to": applies_to, "description": description}
        )


class Migration(migrations.Migration):
    dependencies = [("residents", "0001_initial")]

    operations = [
        migrations.RunSQL(SAFE_DATE_SQL, "DROP FUNCTION IF EXISTS geogrid_safe_date(text)"),
        migrations.RunPython(add_tags, migrations.RunPython.noop),
    ]
