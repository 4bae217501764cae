"""The national classification of city-management cases (GB/T 30428.2, CJ/T 214) and its default routing rules."""

# Codes are the project's own (family letter, two-digit major, two-digit minor numbered in sequence): the
# standard's numeric codes have gaps, order the event majors differently and change between editions.
#
# code, name, family, parent code (None for a major class), accept_hours, dispatch_hours, resolve_hours,
# default_priority, default_department. A major class's values stand in for any a minor class leaves unset;
# every row here is explicit anyway. Majors come before their minors so a loader can create parents first.
CATEGORIES: list[tuple[str, str, str, str | None, float, float, float, str, str | None]] = [
    # Components (部件): something installed in the city is damaged, missing or unsafe.
    ("C01", "公用设施", "component", None, 1.0, 2.0, 48.0, "normal", None),
    # An open manhole is a fall hazard, so covers are made safe within hours whoever owns them.
    ("C0101", "上水井盖", "component", "C01", 0.5, 1.0, 8.0, "high", "water-affairs"),
    ("C0102", "污水井盖", "component", "C01", 0.5, 1.0, 8.0, "high", "water-affairs"),
    ("C0103", "雨水箅子", "component", "C01", 0.5, 1.0, 24.0, "normal", "water-affairs"),
    # Power and telecom covers belong to utility companies, not to a government department.
    ("C0104", "电力井盖", "component", "C01", 0.5, 1.0, 8.0, "high", None),
    ("C0105", "通信井盖", "component", "C01", 0.5, 1.0, 8.0, "high", None),
    # Urban gas is supervised by the housing and urban-rural construction authority.
    ("C0106", "燃气井盖", "component", "C01", 0.5, 1.0, 8.0, "high", "housing"),
    ("C0107", "路灯", "component", "C01", 1.0, 2.0, 48.0, "normal", "urban-management"),
    # Municipal hydrants hang off the water mains and are repaired by the water supplier.
    ("C0108", "消防栓", "component", "C01", 0.5, 1.0, 24.0, "high", "water-affairs"),
    ("C02", "道路交通", "component", None, 1.0, 2.0, 72.0, "normal", None),
    # Signals, signs and parking are the traffic police's.
    ("C0201", "交通信号灯", "component", "C02", 0.5, 1.0, 8.0, "high", "public-security"),
    ("C0202", "交通标志牌", "component", "C02", 1.0, 2.0, 72.0, "normal", "public-security"),
    ("C0203", "护栏", "component", "C02", 1.0, 2.0, 72.0, "normal", "urban-management"),
    # Shelters belong to the bus operator or the transport bureau, neither of which is a department here.
    ("C0204", "公交站亭", "component", "C02", 1.0, 2.0, 72.0, "normal", None),
    ("C0205", "停车设施", "component", "C02", 1.0, 2.0, 72.0, "normal", "public-security"),
    # Place names, and so road name plates, are a civil-affairs matter.
    ("C0206", "路名牌", "component", "C02", 2.0, 4.0, 120.0, "low", "civil-affairs"),
    ("C03", "市容环境", "component", None, 1.0, 2.0, 48.0, "normal", "urban-management"),
    ("C0301", "公共厕所", "component", "C03", 1.0, 2.0, 24.0, "normal", "urban-management"),
    ("C0302", "垃圾箱", "component", "C03", 1.0, 2.0, 24.0, "normal", "urban-management"),
    ("C0303", "果皮箱", "component", "C03", 1.0, 2.0, 48.0, "low", "urban-management"),
    ("C0304", "公共座椅", "component", "C03", 2.0, 4.0, 72.0, "low", "urban-management"),
    ("C0305", "垃圾中转站", "component", "C03", 1.0, 2.0, 24.0, "normal", "urban-management"),
    # Parks and greening sit inside the city-management bureau in most Chinese cities.
    ("C04", "园林绿化", "component", None, 1.0, 2.0, 72.0, "normal", "urban-management"),
    # Ancient and notable trees are protected by regulation; damage cannot wait for the routine cycle.
    ("C0401", "古树名木", "component", "C04", 1.0, 2.0, 48.0, "high", "urban-management"),
    ("C0402", "行道树", "component", "C04", 1.0, 2.0, 48.0, "normal", "urban-management"),
    ("C0403", "绿地", "component", "C04", 2.0, 4.0, 120.0, "low", "urban-management"),
    ("C0404", "花坛", "component", "C04", 2.0, 4.0, 120.0, "low", "urban-management"),
    ("C05", "房屋土地", "component", None, 2.0, 4.0, 120.0, "normal", "housing"),
    # The deadline covers making a dangerous building safe (cordon, evacuation), not rebuilding it.
    ("C0501", "危房", "component", "C05", 1.0, 2.0, 72.0, "high", "housing"),
    ("C0502", "空房", "component", "C05", 4.0, 8.0, 240.0, "low", "housing"),
    # Demolishing an illegal building needs notice and a hearing, hence the long deadline;
    # enforcement is the city-management bureau's, not the housing authority's.
    ("C0503", "违法建筑", "component", "C05", 2.0, 4.0, 240.0, "normal", "urban-management"),
    # Civil air defence offices have been folded into housing and construction in most cities.
    ("C0504", "人防工事", "component", "C05", 2.0, 4.0, 120.0, "normal", "housing"),
    ("C06", "其他设施", "component", None, 1.0, 2.0, 72.0, "normal", None),
    ("C0601", "重大危险源", "component", "C06", 0.5, 1.0, 24.0, "high", "emergency-management"),
    ("C0602", "工地", "component", "C06", 1.0, 2.0, 72.0, "normal", "housing"),
    # Pylons belong to the grid company.
    ("C0603", "高压线铁塔", "component", "C06", 1.0, 2.0, 48.0, "high", None),
    ("C0604", "河堤", "component", "C06", 1.0, 2.0, 72.0, "normal", "water-affairs"),
    # Events (事件): something someone did or something that happened, rather than a broken installation.
    ("E01", "市容环境", "event", None, 1.0, 2.0, 24.0, "normal", "urban-management"),
    ("E0101", "私搭乱建", "event", "E01", 2.0, 4.0, 120.0, "normal", "urban-management"),
    # Loose rubbish is cleared by the sanitation crew on its next round, within a few hours.
    ("E0102", "暴露垃圾", "event", "E01", 0.5, 1.0, 4.0, "normal", "urban-management"),
    ("E0103", "积存垃圾渣土", "event", "E01", 1.0, 2.0, 24.0, "normal", "urban-management"),
    ("E0104", "道路不洁", "event", "E01", 0.5, 1.0, 4.0, "normal", "urban-management"),
    # Rivers and lakes are kept clean under the river-chief system, run by water affairs.
    ("E0105", "水域不洁", "event", "E01", 1.0, 2.0, 24.0, "normal", "water-affairs"),
    ("E0106", "绿地脏乱", "event", "E01", 1.0, 2.0, 24.0, "low", "urban-management"),
    ("E0107", "乱堆物堆料", "event", "E01", 1.0, 2.0, 24.0, "normal", "urban-management"),
    ("E0108", "乱倒垃圾", "event", "E01", 0.5, 1.0, 8.0, "normal", "urban-management"),
    # A fire that is still burning: the evidence and the smoke are gone within hours.
    ("E0109", "焚烧垃圾", "event", "E01", 0.25, 0.5, 2.0, "high", "urban-management"),
    ("E02", "宣传广告", "event", None, 1.0, 2.0, 24.0, "low", "urban-management"),
    ("E0201", "非法小广告", "event", "E02", 1.0, 2.0, 24.0, "low", "urban-management"),
    ("E0202", "违章张贴悬挂广告", "event", "E02", 1.0, 2.0, 48.0, "low", "urban-management"),
    # A sign standing on the pavement obstructs pedestrians and can fall in wind.
    ("E0203", "占道广告牌", "event", "E02", 1.0, 2.0, 48.0, "normal", "urban-management"),
    # Leafleting moves on quickly; later than a few hours there is nothing left to stop.
    ("E0204", "街头散发广告", "event", "E02", 0.5, 1.0, 4.0, "low", "urban-management"),
    ("E03", "施工管理", "event", None, 1.0, 2.0, 24.0, "normal", "housing"),
    # Noise and dust are pollution cases, enforced by ecology and environment.
    ("E0301", "施工扰民", "event", "E03", 0.5, 1.0, 8.0, "normal", "ecology-environment"),
    ("E0302", "工地扬尘", "event", "E03", 1.0, 2.0, 24.0, "normal", "ecology-environment"),
    # Spilled muck on a carriageway is a skid risk; muck-truck enforcement is city management's.
    ("E0303", "道路遗撒", "event", "E03", 0.5, 1.0, 4.0, "normal", "urban-management"),
    ("E0304", "施工占道", "event", "E03", 1.0, 2.0, 24.0, "normal", "housing"),
    # Digging without a permit risks cutting buried water, gas and power lines.
    ("E0305", "无证掘路", "event", "E03", 0.5, 1.0, 24.0, "high", "housing"),
    ("E04", "街面秩序", "event", None, 1.0, 2.0, 24.0, "normal", "urban-management"),
    # Trading without a business licence is a market-supervision offence wherever it happens.
    ("E0401", "无照经营游商", "event", "E04", 1.0, 2.0, 24.0, "normal", "market-supervision"),
    ("E0402", "占道经营", "event", "E04", 1.0, 2.0, 24.0, "normal", "urban-management"),
    ("E0403", "店外经营", "event", "E04", 1.0, 2.0, 24.0, "normal", "urban-management"),
    # A badly parked car blocks traffic now; the traffic police tow or ticket it the same day.
    ("E0404", "机动车乱停放", "event", "E04", 0.5, 1.0, 4.0, "normal", "public-security"),
    ("E0405", "非机动车乱停放", "event", "E04", 1.0, 2.0, 24.0, "low", "urban-management"),
    # Barbecue stalls set up in the evening and are gone by morning.
    ("E0406", "露天烧烤", "event", "E04", 0.5, 1.0, 4.0, "normal", "urban-management"),
    # Beggars and street performers are first offered assistance, which is the civil-affairs relief service's job.
    ("E0407", "乞讨卖艺", "event", "E04", 1.0, 2.0, 24.0, "low", "civil-affairs"),
    ("E05", "突发事件", "event", None, 0.25, 0.5, 4.0, "urgent", "emergency-management"),
    # The deadline is for making the site safe and reopening the road, which can take a day.
    ("E0501", "路面塌陷", "event", "E05", 0.25, 0.5, 24.0, "urgent", "emergency-management"),
    ("E0502", "自来水管破裂", "event", "E05", 0.25, 0.5, 4.0, "urgent", "water-affairs"),
    # A gas leak is dispatched the moment it is accepted.
    ("E0503", "燃气管道破裂", "event", "E05", 0.25, 0.25, 4.0, "urgent", "housing"),
    ("E0504", "下水道堵塞或破损", "event", "E05", 0.5, 1.0, 8.0, "high", "water-affairs"),
    ("E0505", "道路积水", "event", "E05", 0.5, 1.0, 8.0, "high", "water-affairs"),
    ("E0506", "道路积雪结冰", "event", "E05", 0.5, 1.0, 12.0, "high", "urban-management"),
    # Nuisances without a single owning department; the community handles them unless a department is named.
    ("E06", "其他事件", "event", None, 2.0, 4.0, 72.0, "normal", None),
    ("E0601", "噪声扰民", "event", "E06", 1.0, 2.0, 24.0, "normal", "ecology-environment"),
    ("E0602", "油烟扰民", "event", "E06", 1.0, 2.0, 72.0, "normal", "ecology-environment"),
    # Dog registration and control are run by the police in most cities.
    ("E0603", "违规饲养动物", "event", "E06", 1.0, 2.0, 72.0, "low", "public-security"),
    # Mediation is done by grid workers and the community's people's mediation committee.
    ("E0604", "邻里纠纷", "event", "E06", 2.0, 4.0, 72.0, "low", None),
    # Appeals whose text does not say what they are about (an SMS, a call): the dispatcher classifies them.
    ("E0699", "其他（待分类）", "event", "E06", 1.0, 2.0, 72.0, "normal", None),
]

# category code (major or minor) or None, family or "", handled at level (1 city, 2 district, 3 street,
# 4 community, 5 grid), department code or None (None: the category's default department), basis, precedence.
# The most specific rule wins (minor, then major, then family), so a major-class rule that names a department
# would override its minors' own defaults: each minor owned by someone else gets a rule of its own.
ROUTING_RULES: list[tuple[str | None, str, int, str | None, str, int]] = [
    # Events are first the locality's business, components first their owner's.
    (None, "event", 4, None, "locality", 0),
    (None, "component", 3, None, "owner", 0),
    # Emergencies need the resources of a district, coordinated by its emergency management bureau.
    ("E05", "event", 2, "emergency-management", "locality", 100),
    # Burst mains and sewers are fixed by the utility that owns them, whoever's ground they are under.
    ("E0502", "event", 2, "water-affairs", "owner", 100),
    ("E0503", "event", 2, "housing", "owner", 100),
    ("E0504", "event", 2, "water-affairs", "owner", 100),
    ("E0505", "event", 2, "water-affairs", "owner", 100),
    # Snow clearing is organised street by street.
    ("E0506", "event", 3, "urban-management", "locality", 100),
    # Sites are watched day to day by the street office; the permits behind them are housing's.
    ("E03", "event", 3, "housing", "locality", 10),
    ("E0301", "event", 3, "ecology-environment", "locality", 10),
    ("E0302", "event", 3, "ecology-environment", "locality", 10),
    ("E0303", "event", 3, "urban-management", "locality", 10),
    ("E02", "event", 4, "urban-management", "locality", 10),
    # Enforcement squads for street order are attached to the street office; each minor keeps its own department.
    ("E04", "event", 3, None, "locality", 10),
    # Disputes are settled closest to the people involved: "小事不出网格".
    ("E0604", "event", 5, None, "locality", 10),
    ("C0101", "component", 2, "water-affairs", "owner", 10),
    ("C0102", "component", 2, "water-affairs", "owner", 10),
    ("C0103", "component", 2, "water-affairs", "owner", 10),
    # Signals are run from the district traffic police brigade's control centre.
    ("C0201", "component", 2, "public-security", "owner", 10),
    # Illegal construction is the responsibility of the street where it stands (属地管理).
    ("C0503", "component", 3, "urban-management", "locality", 10),
    ("C0601", "component", 2, "emergency-management", "owner", 10),
]

MAJOR_CLASSES = [code for code, _, _, parent, *_ in CATEGORIES if parent is None]
MINOR_CLASSES = [code for code, _, _, parent, *_ in CATEGORIES if parent is not None]
