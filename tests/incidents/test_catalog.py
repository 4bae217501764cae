"""incidents.catalog: the shape and internal consistency of the case classification and its routing rules."""

import re
from collections import Counter

import pytest

from incidents.catalog import CATEGORIES, MAJOR_CLASSES, MINOR_CLASSES, ROUTING_RULES

# Kept here rather than imported so the test needs neither Django nor the accounts migration.
DEPARTMENTS = {
    "public-security",
    "civil-affairs",
    "housing",
    "urban-management",
    "market-supervision",
    "ecology-environment",
    "emergency-management",
    "water-affairs",
}
FAMILIES = {"event", "component"}
PRIORITIES = {"low", "normal", "high", "urgent"}
BASES = {"locality", "owner"}
PREFIX = {"component": "C", "event": "E"}

BY_CODE = {row[0]: row for row in CATEGORIES}


def test_rows_have_nine_fields():
    assert all(len(row) == 9 for row in CATEGORIES)


def test_codes_are_unique():
    counts = Counter(code for code, *_ in CATEGORIES)
    assert [code for code, n in counts.items() if n > 1] == []


def test_names_are_non_empty_and_unique_among_siblings():
    # Both families have a 市容环境 major class, so names are unique only within family and parent.
    names = Counter((family, parent, name) for _, name, family, parent, *_ in CATEGORIES)
    assert all(name.strip() for _, _, name in names)
    assert [key for key, n in names.items() if n > 1] == []


@pytest.mark.parametrize("row", CATEGORIES, ids=lambda row: row[0])
def test_code_format_matches_family_and_parent(row):
    code, _, family, parent, *_ = row
    assert family in FAMILIES
    if parent is None:
        assert re.fullmatch(rf"{PREFIX[family]}\d\d", code)
    else:
        assert re.fullmatch(rf"{re.escape(parent)}\d\d", code)


def test_each_minor_hangs_off_an_earlier_major_of_the_same_family():
    # Earlier, so whatever loads the catalogue can create parents before children in one pass.
    seen = set()
    for code, _, family, parent, *_ in CATEGORIES:
        if parent is not None:
            assert parent in seen, code
            parent_row = BY_CODE[parent]
            assert parent_row[3] is None, f"{code}: parent {parent} is itself a minor class"
            assert parent_row[2] == family, code
        seen.add(code)


@pytest.mark.parametrize("row", CATEGORIES, ids=lambda row: row[0])
def test_deadlines_are_positive_and_ordered(row):
    accept, dispatch, resolve = row[4:7]
    for hours in (accept, dispatch, resolve):
        assert isinstance(hours, int | float) and not isinstance(hours, bool)
    assert 0 < accept <= dispatch <= resolve


@pytest.mark.parametrize("row", CATEGORIES, ids=lambda row: row[0])
def test_priority_and_department_are_known(row):
    priority, department = row[7:9]
    assert priority in PRIORITIES
    assert department is None or department in DEPARTMENTS


def test_six_major_classes_per_family():
    per_family = Counter(BY_CODE[code][2] for code in MAJOR_CLASSES)
    assert per_family == {"component": 6, "event": 6}
    assert sorted(MAJOR_CLASSES) == [f"{letter}0{i}" for letter in "CE" for i in range(1, 7)]


def test_minor_class_counts():
    per_major = Counter(BY_CODE[code][3] for code in MINOR_CLASSES)
    assert set(per_major) == set(MAJOR_CLASSES)
    assert all(4 <= n <= 10 for n in per_major.values()), per_major
    assert 40 <= len(MINOR_CLASSES) <= 80


def test_major_and_minor_helpers_partition_the_catalogue():
    assert sorted(MAJOR_CLASSES + MINOR_CLASSES) == sorted(BY_CODE)


def test_rules_have_six_fields():
    assert all(len(rule) == 6 for rule in ROUTING_RULES)


@pytest.mark.parametrize("rule", ROUTING_RULES, ids=lambda rule: f"{rule[0] or rule[1] or 'any'}")
def test_routing_rule_is_well_formed(rule):
    category, family, level, department, basis, precedence = rule
    assert category is None or category in BY_CODE
    assert family in FAMILIES | {""}
    if category is not None and family:
        assert BY_CODE[category][2] == family
    assert isinstance(level, int) and 1 <= level <= 5
    assert department is None or department in DEPARTMENTS
    assert basis in BASES
    assert isinstance(precedence, int) and not isinstance(precedence, bool)


def test_no_two_rules_for_the_same_target():
    # Without an `under` column two rules for one target could only be told apart by precedence,
    # which would leave one of them dead.
    counts = Counter((category, family if category is None else "") for category, family, *_ in ROUTING_RULES)
    assert [key for key, n in counts.items() if n > 1] == []


def test_each_family_has_a_family_wide_default():
    defaults = {rule[1]: rule for rule in ROUTING_RULES if rule[0] is None}
    assert defaults["event"][2:5] == (4, None, "locality")
    assert defaults["component"][2:5] == (3, None, "owner")


def test_major_class_rule_does_not_override_a_minor_default_department_unnoticed():
    # The most specific rule wins, so a department named on a major-class rule replaces the default
    # department of every minor below it that has no rule of its own.
    rules = {rule[0]: rule for rule in ROUTING_RULES if rule[0] is not None}
    overridden = []
    for code, _, _, parent, *_, default_department in CATEGORIES:
        if parent is None or code in rules or parent not in rules:
            continue
        department = rules[parent][3]
        if department is not None and default_department is not None and department != default_department:
            overridden.append(code)
    assert overridden == []
