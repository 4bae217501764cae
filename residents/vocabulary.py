"""Column names and value words accepted in household files, in Chinese and English, mapped to codes."""

# Canonical column -> the headers it is recognised by (case-insensitive). A mapping file overrides.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "household_ref": ("户号", "户编号", "household_ref", "household", "ref"),
    "address": ("地址", "住址", "家庭住址", "address"),
    "building": ("楼栋", "楼栋编号", "building"),
    "unit_no": ("单元", "单元号", "unit", "unit_no"),
    "room": ("房号", "房间号", "室", "room"),
    "lon": ("经度", "lon", "lng", "longitude"),
    "lat": ("纬度", "lat", "latitude"),
    "housing_type": ("住房类型", "住房性质", "housing_type"),
    "household_tags": ("户标签", "household_tags"),
    "size": ("户人数", "家庭人口", "size"),
    "source": ("来源", "数据来源", "source"),
    "name": ("姓名", "name"),
    "id_number": ("身份证号", "公民身份号码", "身份证号码", "id_number"),
    "phone": ("联系电话", "手机号", "电话", "phone"),
    "gender": ("性别", "gender", "sex"),
    "birth_date": ("出生日期", "birth_date", "birthday"),
    "relation": ("与户主关系", "关系", "relation"),
    "residence_status": ("居住状态", "人口类型", "residence_status"),
    "resident_tags": ("人员标签", "关注标签", "resident_tags", "tags"),
}

HOUSEHOLD_COLUMNS = (
    "household_ref",
    "address",
    "building",
    "unit_no",
    "room",
    "lon",
    "lat",
    "housing_type",
    "household_tags",
    "size",
    "source",
)
RESIDENT_COLUMNS = (
    "name",
    "id_number",
    "phone",
    "gender",
    "birth_date",
    "relation",
    "residence_status",
    "resident_tags",
)

# Field -> accepted word (lower case) -> code. Codes themselves are always accepted.
VALUE_ALIASES: dict[str, dict[str, str]] = {
    "housing_type": {
        "自有": "owned",
        "自有住房": "owned",
        "自购": "owned",
        "租赁": "rented",
        "租住": "rented",
        "集体": "collective",
        "集体宿舍": "collective",
    },
    "source": {
        "公安": "public_security",
        "民政": "civil_affairs",
        "房管": "real_estate",
        "住建": "real_estate",
        "不动产": "real_estate",
        "计生": "family_planning",
        "卫健": "family_planning",
        "党建": "party_building",
        "网格采集": "grid_visit",
        "网格": "grid_visit",
        "走访": "grid_visit",
    },
    "gender": {"男": "male", "女": "female", "m": "male", "f": "female"},
    "relation": {
        "户主": "head",
        "本人": "head",
        "配偶": "spouse",
        "妻子": "spouse",
        "丈夫": "spouse",
        "子女": "child",
        "儿子": "child",
        "女儿": "child",
        "子": "child",
        "女": "child",
        "父母": "parent",
        "父亲": "parent",
        "母亲": "parent",
        "孙子女": "grandchild",
        "孙子": "grandchild",
        "孙女": "grandchild",
        "外孙": "grandchild",
        "外孙女": "grandchild",
        "兄弟姐妹": "sibling",
        "兄弟": "sibling",
        "姐妹": "sibling",
        "其他": "other",
    },
    "residence_status": {
        "户籍": "registered",
        "户籍人口": "registered",
        "常住": "registered",
        "流动": "floating",
        "流动人口": "floating",
        "外出": "away",
        "外出人口": "away",
    },
}


def blank_file_headers(*, chinese: bool) -> list[str]:
    """The header row of a blank import file: every column, by its Chinese name or its English one (both are read)."""
    return [aliases[0] if chinese else name for name, aliases in COLUMN_ALIASES.items()]
