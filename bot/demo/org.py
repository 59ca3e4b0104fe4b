"""A deterministic, realistic bilingual sales organisation for the embedded demo.

Same seed, same org: three territories (华东 East China, 华南 South China, North America),
three managers, nine reps, a trainer and a sales-ops admin; ~90 accounts with contacts;
~400 opportunities over the last ten quarters whose stage histories show real progressions,
slippage, wins and losses, growth and seasonality; quarterly targets; buyer-signal events
for resonance scores (with accounts heating up and cooling down), and operational signals
that trip the demo risk rule for a few accounts.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import yaml
from sqlalchemy.orm import Session

from bot.core.models import (
    Account,
    Contact,
    Opportunity,
    OpportunityStage,
    OpportunityStatus,
    Product,
    Role,
    SignalEvent,
    StageChange,
    Target,
    Territory,
    User,
)

__all__ = ["DemoOrgSummary", "build_org", "quarter_of"]

SIGNALS_FILE = Path(__file__).resolve().parents[2] / "insights" / "signals.yaml"

STAGE_PATH = [
    OpportunityStage.PROSPECTING,
    OpportunityStage.QUALIFICATION,
    OpportunityStage.DISCOVERY,
    OpportunityStage.PROPOSAL,
    OpportunityStage.NEGOTIATION,
]
# What a CRM shows by default; the forecast engine learns the real rates from history.
CRM_PROBABILITY = {
    OpportunityStage.PROSPECTING: 0.1,
    OpportunityStage.QUALIFICATION: 0.2,
    OpportunityStage.DISCOVERY: 0.35,
    OpportunityStage.PROPOSAL: 0.55,
    OpportunityStage.NEGOTIATION: 0.8,
    OpportunityStage.CLOSED_WON: 1.0,
    OpportunityStage.CLOSED_LOST: 0.0,
}
# Chance to advance out of each stage (the rest is lost there): win rate ~ 0.35 overall.
ADVANCE = [0.86, 0.83, 0.8, 0.82, 0.86]
STAGE_DAYS = [(7, 21), (10, 30), (14, 40), (10, 35), (7, 30)]


@dataclass(frozen=True)
class TerritorySpec:
    name: str
    name_zh: str
    region: str
    currency: str
    scale: float  # amount multiplier vs USD
    language: str


TERRITORIES = [
    TerritorySpec("East China", "华东", "APAC", "CNY", 7.0, "zh"),
    TerritorySpec("South China", "华南", "APAC", "CNY", 7.0, "zh"),
    TerritorySpec("North America", "北美", "AMER", "USD", 1.0, "en"),
]

# handle, name, email local part, role, territory index (None = global), wecom, language
PEOPLE = [
    ("wang.fang", "王芳 Wang Fang", "manager", 0, "zh"),
    ("li.wei", "李伟 Li Wei", "rep", 0, "zh"),
    ("zhang.min", "张敏 Zhang Min", "rep", 0, "zh"),
    ("liu.yang", "刘洋 Liu Yang", "rep", 0, "zh"),
    ("chen.zhiqiang", "陈志强 Chen Zhiqiang", "manager", 1, "zh"),
    ("huang.lei", "黄磊 Huang Lei", "rep", 1, "zh"),
    ("zhou.ting", "周婷 Zhou Ting", "rep", 1, "zh"),
    ("wu.jing", "吴静 Wu Jing", "rep", 1, "zh"),
    ("sarah.mitchell", "Sarah Mitchell", "manager", 2, "en"),
    ("jason.reed", "Jason Reed", "rep", 2, "en"),
    ("emily.carter", "Emily Carter", "rep", 2, "en"),
    ("daniel.kim", "Daniel Kim", "rep", 2, "en"),
    ("zhao.lin", "赵琳 Zhao Lin", "trainer", None, "zh"),
    ("ops.admin", "Sales Ops Admin", "admin", None, "en"),
]

PRODUCTS = [
    ("LUM-INS", "Lumina Insight", "Lumina Insight 智能分析", "analytics", 48_000.0),
    ("LUM-CON", "Lumina Connect", "Lumina Connect 集成中心", "integration", 36_000.0),
    ("LUM-AST", "Lumina Assist", "Lumina Assist 智能客服", "ai_service", 60_000.0),
    ("LUM-EDG", "Lumina Edge", "Lumina Edge 物联网关", "iot", 85_000.0),
]

INDUSTRIES_ZH = [
    ("汽车零部件", "Auto Parts", "manufacturing"),
    ("连锁零售", "Retail Chain", "retail"),
    ("物流", "Logistics", "logistics"),
    ("医疗", "Healthcare", "healthcare"),
    ("保险", "Insurance", "financial_services"),
    ("电子制造", "Electronics", "manufacturing"),
    ("食品饮料", "Food & Beverage", "consumer_goods"),
    ("新能源", "New Energy", "energy"),
    ("教育科技", "EdTech", "education"),
    ("证券", "Securities", "financial_services"),
]
CITIES = [
    ["上海", "苏州", "杭州", "南京", "宁波", "无锡", "合肥", "常州"],
    ["广州", "深圳", "东莞", "佛山", "厦门", "珠海", "南宁", "福州"],
]
CITY_PINYIN = {
    "上海": "Shanghai",
    "苏州": "Suzhou",
    "杭州": "Hangzhou",
    "南京": "Nanjing",
    "宁波": "Ningbo",
    "无锡": "Wuxi",
    "合肥": "Hefei",
    "常州": "Changzhou",
    "广州": "Guangzhou",
    "深圳": "Shenzhen",
    "东莞": "Dongguan",
    "佛山": "Foshan",
    "厦门": "Xiamen",
    "珠海": "Zhuhai",
    "南宁": "Nanning",
    "福州": "Fuzhou",
}
BRAND_ZH = [
    ("精锐", "Jingrui"),
    ("恒通", "Hengtong"),
    ("瑞丰", "Ruifeng"),
    ("华泰", "Huatai"),
    ("宏达", "Hongda"),
    ("远航", "Yuanhang"),
    ("嘉禾", "Jiahe"),
    ("凯越", "Kaiyue"),
    ("鼎新", "Dingxin"),
    ("汇智", "Huizhi"),
    ("中元", "Zhongyuan"),
    ("百川", "Baichuan"),
    ("星辰", "Xingchen"),
    ("金桥", "Jinqiao"),
    ("安信", "Anxin"),
    ("博远", "Boyuan"),
    ("云帆", "Yunfan"),
    ("润和", "Runhe"),
    ("天合", "Tianhe"),
    ("明德", "Mingde"),
]
INDUSTRIES_EN = [
    ("Freight", "logistics"),
    ("Health Network", "healthcare"),
    ("Foods", "consumer_goods"),
    ("Manufacturing", "manufacturing"),
    ("Insurance Group", "financial_services"),
    ("Retail", "retail"),
    ("Energy", "energy"),
    ("Learning", "education"),
    ("Logistics", "logistics"),
    ("Components", "manufacturing"),
]
BRAND_EN = [
    "Ridgeline",
    "Cascade",
    "Summit",
    "Harborview",
    "Pinecrest",
    "Blue Mesa",
    "Ironwood",
    "Lakeshore",
    "Redstone",
    "Silver Creek",
    "Granite Peak",
    "Northgate",
    "Clearwater",
    "Maple Ridge",
    "Stonebridge",
    "Bayside",
    "Crestline",
    "Westfield",
    "Evergreen",
    "Highland",
]
CITIES_EN = ["Chicago", "Denver", "Seattle", "Austin", "Atlanta", "Boston", "Toronto", "Phoenix", "Columbus"]
SURNAMES_ZH = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭"]
GIVEN_ZH = ["建国", "海燕", "志明", "丽华", "晓东", "静怡", "国强", "雪梅", "文博", "欣然", "立新", "婷婷"]
FIRST_EN = [
    "Karen",
    "Michael",
    "Priya",
    "David",
    "Laura",
    "James",
    "Olivia",
    "Robert",
    "Nina",
    "Thomas",
    "Grace",
    "Alan",
]
LAST_EN = ["Lopez", "Nguyen", "Patel", "Brooks", "Fischer", "Morgan", "Hughes", "Price", "Sullivan", "Ward"]
TITLES = [
    ("CFO", "财务总监", "economic_buyer"),
    ("VP Operations", "运营副总裁", "economic_buyer"),
    ("IT Director", "IT总监", "technical"),
    ("Operations Manager", "运营经理", "champion"),
    ("Procurement Lead", "采购负责人", "procurement"),
    ("Head of Sales Ops", "销售运营负责人", "champion"),
    ("Security Officer", "信息安全官", "technical"),
]
LOSS_REASONS = ["price", "competitor", "no decision", "budget frozen", "timing", "missing integration"]
COMPETITORS = ["Northwind Analytics", "九章数据 Jiuzhang Data", "Vantage CRM Suite"]


@dataclass(frozen=True)
class DemoOrgSummary:
    territories: int
    users: int
    accounts: int
    opportunities: int
    stage_changes: int
    signal_events: int


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _add_quarters(day: date, n: int) -> date:
    months = day.year * 12 + day.month - 1 + 3 * n
    return date(months // 12, months % 12 + 1, 1)


def _at(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, time(rng.randint(8, 18), rng.randint(0, 59)), tzinfo=UTC)


# Seasonality of deal creation by calendar quarter (Q4 budget flush; Q1 slow around the new year).
SEASON = {1: 0.8, 2: 1.0, 3: 0.95, 4: 1.3}


def build_org(session: Session, seed: int, today: date) -> DemoOrgSummary:
    """Insert the whole demo org in the caller's transaction (all or nothing)."""
    rng = random.Random(seed)
    territories = []
    for spec in TERRITORIES:
        territory = Territory(name=spec.name, name_zh=spec.name_zh, region=spec.region, currency=spec.currency)
        session.add(territory)
        territories.append(territory)
    session.flush()

    users: dict[str, User] = {}
    managers: dict[int, User] = {}
    for index, (handle, name, role, territory_index, language) in enumerate(PEOPLE, start=1):
        home = territories[territory_index] if territory_index is not None else None
        user = User(
            handle=handle,
            name=name,
            email=f"{handle}@lumina.example",
            role=Role(role),
            territory_id=home.id if home else None,
            language=language,
            slack_user_id=f"U0DEMO{index:03d}",
            wecom_userid="".join(part.capitalize() for part in handle.split(".")) if language == "zh" else None,
        )
        session.add(user)
        users[handle] = user
        if role == "manager" and home is not None:
            managers[home.id] = user
    session.flush()
    for user in users.values():
        if user.role is Role.REP and user.territory_id in managers:
            user.manager_id = managers[user.territory_id].id

    products = []
    for sku, name, name_zh, family, price in PRODUCTS:
        product = Product(sku=sku, name=name, name_zh=name_zh, family=family, list_price=price, currency="USD")
        session.add(product)
        products.append(product)
    session.flush()

    accounts = _accounts(session, rng, territories, users)
    opportunities, changes = _opportunities(session, rng, territories, accounts, products, today)
    _targets(session, rng, territories, users, opportunities, today)
    signal_count = _signals(session, rng, accounts, today)
    return DemoOrgSummary(
        territories=len(territories),
        users=len(users),
        accounts=len(accounts),
        opportunities=opportunities,
        stage_changes=changes,
        signal_events=signal_count,
    )


def _accounts(
    session: Session, rng: random.Random, territories: list[Territory], users: dict[str, User]
) -> list[Account]:
    accounts: list[Account] = []
    used: set[str] = set()
    for t_index, territory in enumerate(territories):
        reps = [u for u in users.values() if u.role is Role.REP and u.territory_id == territory.id]
        for rep_index, rep in enumerate(reps):
            for k in range(10):
                if TERRITORIES[t_index].language == "zh":
                    while True:
                        city = rng.choice(CITIES[t_index])
                        brand_zh, brand_en = rng.choice(BRAND_ZH)
                        industry_zh, industry_en, industry = rng.choice(INDUSTRIES_ZH)
                        name = f"{city}{brand_zh}{industry_zh}有限公司"
                        if name not in used:
                            break
                    name_en = f"{CITY_PINYIN[city]} {brand_en} {industry_en}"
                    country = "China"
                else:
                    while True:
                        brand = rng.choice(BRAND_EN)
                        suffix, industry = rng.choice(INDUSTRIES_EN)
                        name = f"{brand} {suffix}"
                        if name not in used:
                            break
                    name_en, city, country = name, rng.choice(CITIES_EN), "USA"
                used.add(name)
                segment = rng.choices(["smb", "mid_market", "enterprise"], weights=[3, 5, 2])[0]
                employees = {"smb": (50, 300), "mid_market": (300, 3000), "enterprise": (3000, 40000)}[segment]
                account = Account(
                    name=name,
                    name_en=name_en,
                    industry=industry,
                    employees=rng.randint(*employees),
                    segment=segment,
                    city=city,
                    country=country,
                    territory_id=territory.id,
                    owner_id=rep.id,
                    # The first two accounts of each rep are key accounts with a customer history.
                    is_key_account=k < 2,
                    external_id=f"DEMO-ACC-{t_index + 1}{rep_index + 1}{k:02d}",
                )
                session.add(account)
                accounts.append(account)
    session.flush()
    for account in accounts:
        zh = account.country == "China"
        for c_index in range(rng.randint(2, 4)):
            title_en, title_zh, buying_role = (
                TITLES[(c_index * 3 + account.id) % len(TITLES)]
                if c_index
                else TITLES[0 if account.segment != "smb" else 1]
            )
            if zh:
                person = rng.choice(SURNAMES_ZH) + rng.choice(GIVEN_ZH)
                title = title_zh
            else:
                person = f"{rng.choice(FIRST_EN)} {rng.choice(LAST_EN)}"
                title = title_en
            session.add(
                Contact(
                    account_id=account.id,
                    name=person,
                    title=title,
                    buying_role=buying_role,
                    email=f"contact{account.id}.{c_index}@customer.example",
                )
            )
    session.flush()
    return accounts


def _opportunities(
    session: Session,
    rng: random.Random,
    territories: list[Territory],
    accounts: list[Account],
    products: list[Product],
    today: date,
) -> tuple[int, int]:
    """Simulate each deal from creation through its stages to a win, a loss, or still open today."""
    first_quarter = _add_quarters(_quarter_start(today), -9)
    by_territory: dict[int, list[Account]] = {}
    for account in accounts:
        by_territory.setdefault(account.territory_id, []).append(account)
    count = changes = 0
    for t_index, territory in enumerate(territories):
        spec = TERRITORIES[t_index]
        pool = by_territory[territory.id]
        # Deals start ~3 months before the first quarter so early quarters have closings too.
        day = first_quarter - timedelta(days=90)
        while day <= today:
            quarters_in = (day - first_quarter).days / 91.25
            # ~13 deals per territory-quarter, growing ~4% a quarter, with seasonality.
            rate = 3.6 * (1.04**quarters_in) * SEASON[(day.month - 1) // 3 + 1]
            for _ in range(_poisson(rng, rate)):
                created = day + timedelta(days=rng.randint(0, 27))
                if created > today:
                    continue
                account = rng.choice(pool)
                changes += _one_deal(session, rng, spec, account, products, created, today, count)
                count += 1
            day += timedelta(days=28)
    session.flush()
    return count, changes


def _poisson(rng: random.Random, lam: float) -> int:
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def _one_deal(
    session: Session,
    rng: random.Random,
    spec: TerritorySpec,
    account: Account,
    products: list[Product],
    created: date,
    today: date,
    number: int,
) -> int:
    product = rng.choice(products)
    segment_factor = {"smb": 0.45, "mid_market": 1.0, "enterprise": 2.6}[account.segment]
    amount = round(product.list_price * segment_factor * rng.lognormvariate(0, 0.35) * spec.scale, -2)
    planned_cycle = sum(rng.randint(*STAGE_DAYS[i]) for i in range(len(STAGE_PATH)))
    expected_close = created + timedelta(days=planned_cycle)
    competitor = rng.choice(COMPETITORS) if rng.random() < 0.35 else None
    opp = Opportunity(
        name=f"{account.name_en or account.name} - {product.name}",
        account_id=account.id,
        owner_id=account.owner_id,
        product_id=product.id,
        amount=amount,
        currency=spec.currency,
        stage=OpportunityStage.PROSPECTING,
        probability=CRM_PROBABILITY[OpportunityStage.PROSPECTING],
        status=OpportunityStatus.OPEN,
        created_date=created,
        expected_close_date=expected_close,
        competitor=competitor,
        external_id=f"DEMO-OPP-{number:05d}",
    )
    session.add(opp)
    session.flush()
    history = [
        StageChange(
            opportunity_id=opp.id,
            from_stage=None,
            to_stage=OpportunityStage.PROSPECTING,
            changed_on=created,
            changed_at=_at(created, rng),
            amount=amount,
            expected_close_date=expected_close,
        )
    ]
    day = created
    stage_index = 0
    # Deals with a named competitor are harder to win.
    handicap = 0.93 if competitor else 1.0
    while True:
        low, high = STAGE_DAYS[stage_index]
        day = day + timedelta(days=rng.randint(low, high))
        if day > today:
            break
        # Slippage: the close date moves out when a stage takes longer than planned.
        if day > expected_close - timedelta(days=7) or rng.random() < 0.18:
            expected_close = max(expected_close, day) + timedelta(days=rng.randint(14, 45))
        advanced = rng.random() < ADVANCE[stage_index] * handicap
        if not advanced:
            _close(opp, history, rng, day, won=False, expected_close=expected_close)
            break
        if stage_index == len(STAGE_PATH) - 1:
            # Negotiation won: a few deals are discounted on the way.
            if rng.random() < 0.3:
                amount = round(amount * rng.uniform(0.82, 0.95), -2)
                opp.amount = amount
            _close(opp, history, rng, day, won=True, expected_close=expected_close)
            break
        stage_index += 1
        stage = STAGE_PATH[stage_index]
        history.append(
            StageChange(
                opportunity_id=opp.id,
                from_stage=STAGE_PATH[stage_index - 1],
                to_stage=stage,
                changed_on=day,
                changed_at=_at(day, rng),
                amount=amount,
                expected_close_date=expected_close,
            )
        )
        opp.stage = stage
        opp.probability = CRM_PROBABILITY[stage]
    if opp.status is OpportunityStatus.OPEN:
        opp.expected_close_date = max(expected_close, today + timedelta(days=rng.randint(5, 40)))
    session.add_all(history)
    return len(history)


def _close(
    opp: Opportunity, history: list[StageChange], rng: random.Random, day: date, *, won: bool, expected_close: date
) -> None:
    stage = OpportunityStage.CLOSED_WON if won else OpportunityStage.CLOSED_LOST
    history.append(
        StageChange(
            opportunity_id=opp.id,
            from_stage=opp.stage,
            to_stage=stage,
            changed_on=day,
            changed_at=_at(day, rng),
            amount=opp.amount,
            expected_close_date=day,
        )
    )
    opp.stage = stage
    opp.probability = CRM_PROBABILITY[stage]
    opp.status = OpportunityStatus.WON if won else OpportunityStatus.LOST
    opp.closed_date = day
    opp.expected_close_date = expected_close if not won else day
    if not won:
        opp.loss_reason = "competitor" if opp.competitor and rng.random() < 0.6 else rng.choice(LOSS_REASONS)


def _targets(
    session: Session,
    rng: random.Random,
    territories: list[Territory],
    users: dict[str, User],
    opportunity_count: int,
    today: date,
) -> None:
    """Quarterly quotas: last year's bookings grown ~15%, the way sales ops sets them."""
    session.flush()
    won = session.query(Opportunity).filter(Opportunity.status == OpportunityStatus.WON).all()
    booked: dict[tuple[int, str], float] = {}
    for opp in won:
        account = session.get(Account, opp.account_id)
        assert account is not None and opp.closed_date is not None
        key = (account.territory_id, quarter_of(opp.closed_date))
        booked[key] = booked.get(key, 0.0) + opp.amount
    current = _quarter_start(today)
    for territory in territories:
        values = [v for (tid, _), v in booked.items() if tid == territory.id]
        typical = sorted(values)[len(values) // 2] if values else 100_000.0
        reps = [u for u in users.values() if u.role is Role.REP and u.territory_id == territory.id]
        for offset in range(-9, 2):
            q_start = _add_quarters(current, offset)
            period = quarter_of(q_start)
            season = SEASON[(q_start.month - 1) // 3 + 1]
            growth = 1.04 ** (offset + 9)
            amount = round(typical * season * growth * rng.uniform(1.05, 1.2) / 1.2, -3)
            session.add(
                Target(
                    scope_type="territory",
                    scope_key=territory.name,
                    period=period,
                    amount=amount,
                    currency=territory.currency,
                )
            )
            for rep in reps:
                session.add(
                    Target(
                        scope_type="rep",
                        scope_key=rep.handle,
                        period=period,
                        amount=round(amount / len(reps), -3),
                        currency=territory.currency,
                    )
                )
    session.flush()


def _signals(session: Session, rng: random.Random, accounts: list[Account], today: date) -> int:
    """Buyer signals over the last 120 days. Each account leans to one buyer type; some heat up
    in the last week, some go quiet; three accounts show the risk-rule pattern."""
    spec = yaml.safe_load(SIGNALS_FILE.read_text(encoding="utf-8"))
    dimensions: dict[str, dict] = spec["dimensions"]
    by_type: dict[str, list[str]] = {}
    for key, dim in dimensions.items():
        for buyer_type in dim["buyer_types"]:
            by_type.setdefault(buyer_type, []).append(key)
    types = list(spec["buyer_types"])
    count = 0
    for index, account in enumerate(accounts):
        lean = types[(index * 7 + account.id) % len(types)]
        trend = rng.choice(["rising", "rising", "falling", "steady", "steady", "quiet"])
        n_events = {"rising": 26, "falling": 22, "steady": 16, "quiet": 4}[trend]
        for _ in range(n_events):
            if trend == "rising":
                days_ago = int(rng.triangular(0, 60, 0))
            elif trend == "falling":
                days_ago = int(rng.triangular(20, 120, 60))
            else:
                days_ago = rng.randint(0, 120)
            key = rng.choice(by_type[lean]) if rng.random() < 0.7 else rng.choice(list(dimensions))
            occurred = _at(today - timedelta(days=days_ago), rng)
            value = float(rng.randint(1, 4)) if key.endswith(("view", "visit", "call")) else 1.0
            session.add(
                SignalEvent(account_id=account.id, signal_type=key, value=value, occurred_at=occurred, source="demo")
            )
            count += 1
        count += _operational(session, rng, account, today, at_risk=index % 30 == 4)
    session.flush()
    return count


def _operational(session: Session, rng: random.Random, account: Account, today: date, *, at_risk: bool) -> int:
    """Weekly inventory and visit figures; the at-risk accounts also see three days running of
    competitor promotions, slow stock and missed visits (the demo risk rule's pattern)."""
    if account.industry not in ("retail", "consumer_goods", "manufacturing") and not at_risk:
        return 0
    count = 0
    for week in range(8, -1, -1):
        day = today - timedelta(days=7 * week + 1)
        turnover = rng.uniform(52, 70) if at_risk and week < 3 else rng.uniform(22, 40)
        completion = rng.uniform(0.35, 0.55) if at_risk and week < 3 else rng.uniform(0.7, 0.95)
        session.add(
            SignalEvent(
                account_id=account.id,
                signal_type="inventory_turnover_days",
                value=round(turnover, 1),
                occurred_at=_at(day, rng),
                source="demo",
            )
        )
        session.add(
            SignalEvent(
                account_id=account.id,
                signal_type="visit_completion_rate",
                value=round(completion, 2),
                occurred_at=_at(day, rng),
                source="demo",
            )
        )
        count += 2
    if at_risk:
        for days_ago in (3, 2, 1):
            session.add(
                SignalEvent(
                    account_id=account.id,
                    signal_type="competitor_promotion",
                    value=1.0,
                    occurred_at=_at(today - timedelta(days=days_ago), rng),
                    source="demo",
                )
            )
            count += 1
    return count
