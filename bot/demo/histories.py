"""Customer histories for the demo's key accounts: meeting notes and emails with facts a rep
would ask about (budget, economic buyer, competitor, concerns, next step).

Chinese accounts get a Markdown file each; North American accounts a CSV export with one row
per history entry (the shape CRM exports have). Deterministic per account.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.models import Account, Contact, User

__all__ = ["HISTORY_CSV_COLUMNS", "HistoryFile", "write_histories"]

HISTORY_CSV_COLUMNS = ["date", "account", "entry_type", "author", "subject", "text"]

PAINS_ZH = [
    ("设备非计划停机", "每月平均停机 {n} 小时，损失约 {m} 万元"),
    ("会员复购率下降", "近两个季度会员复购率从 {n}% 降到 {m}%"),
    ("客服质检覆盖率低", "人工质检只能覆盖 {n}% 的通话，投诉率上升 {m}%"),
    ("订单交付延迟", "上季度准时交付率只有 {n}%，罚款约 {m} 万元"),
]
PAINS_EN = [
    ("missed delivery windows", "on-time delivery is {n}% and late penalties reached ${m}k last quarter"),
    ("manual reporting", "analysts spend {n} hours a week on spreadsheets, about ${m}k a year"),
    ("unplanned downtime", "{n} hours of unplanned downtime a month, roughly ${m}k lost"),
    ("slow ticket resolution", "median resolution time is {n} hours and churn rose {m}%"),
]
CONCERNS_ZH = ["等保三级合规", "与现有 SAP 系统的集成", "历史数据迁移", "数据必须存储在境内"]
CONCERNS_EN = [
    "GDPR data processing terms",
    "integration with their Salesforce instance",
    "historical data migration",
    "SOC 2 report",
]
COMPETITORS = ["Northwind Analytics", "九章数据", "Vantage CRM Suite"]
Entry = tuple[date, str, str, str, str]  # day, kind, author, subject, text


@dataclass(frozen=True)
class HistoryFile:
    path: Path
    account_id: int
    owner_id: int
    territory_id: int
    title: str
    language: str


def write_histories(session: Session, out_dir: Path, today: date) -> list[HistoryFile]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[HistoryFile] = []
    accounts = session.scalars(select(Account).where(Account.is_key_account).order_by(Account.id)).all()
    for account in accounts:
        rng = random.Random(account.id * 7919)
        owner = session.get(User, account.owner_id)
        contacts = session.scalars(select(Contact).where(Contact.account_id == account.id).order_by(Contact.id)).all()
        buyer = next((c for c in contacts if c.buying_role == "economic_buyer"), contacts[0])
        champion = next((c for c in contacts if c is not buyer), buyer)
        start = today - timedelta(days=rng.randint(60, 110))
        dates = [start + timedelta(days=d) for d in sorted(rng.sample(range(5, 55), 4))]
        competitor = rng.choice(COMPETITORS)
        assert owner is not None
        if account.country == "China":
            entries = _entries_zh(rng, account, owner, buyer, champion, competitor, dates)
            path = out_dir / f"history-{account.external_id}.md"
            title = f"客户历史：{account.name}"
            body = [f"# {title}", ""]
            for day, kind, author, subject, text in entries:
                body += [f"## {day.isoformat()} {kind}：{subject}", f"记录人：{author}", "", text, ""]
            path.write_text("\n".join(body), encoding="utf-8")
            language = "zh"
        else:
            entries = _entries_en(rng, account, owner, buyer, champion, competitor, dates)
            path = out_dir / f"history-{account.external_id}.csv"
            title = f"Customer history: {account.name}"
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(HISTORY_CSV_COLUMNS)
                for day, kind, author, subject, text in entries:
                    writer.writerow([day.isoformat(), account.name, kind, author, subject, text])
            language = "en"
        files.append(
            HistoryFile(
                path=path,
                account_id=account.id,
                owner_id=account.owner_id,
                territory_id=account.territory_id,
                title=title,
                language=language,
            )
        )
    return files


def _entries_zh(
    rng: random.Random,
    account: Account,
    owner: User,
    buyer: Contact,
    champion: Contact,
    competitor: str,
    dates: list[date],
) -> list[Entry]:
    pain, impact = rng.choice(PAINS_ZH)
    impact = impact.format(n=rng.randint(12, 60), m=rng.randint(20, 90))
    concern = rng.choice(CONCERNS_ZH)
    budget = rng.randint(40, 260) * 1_0000
    threshold = rng.choice([50, 100, 200])
    return [
        (
            dates[0],
            "会议纪要",
            owner.name,
            "首次拜访",
            f"与{champion.title}{champion.name}会面。{account.name}的核心痛点是{pain}：{impact}。"
            f"对方对 Lumina Insight 的实时看板很感兴趣，希望先在一个工厂/区域试点。",
        ),
        (
            dates[1],
            "邮件",
            champion.name,
            "预算与审批",
            f"{champion.name}来信：今年相关 IT 预算约 {budget // 10000} 万元，超过 {threshold} 万元的采购需要"
            f"{buyer.title}{buyer.name}审批并上总经理办公会。经济决策人是{buyer.name}。",
        ),
        (
            dates[2],
            "会议纪要",
            owner.name,
            "技术交流",
            f"IT 团队提出的主要顾虑是{concern}。客户同时在评估{competitor}，认为对方报价低约 15%。"
            f"我们承诺提供合规白皮书和集成方案说明。",
        ),
        (
            dates[3],
            "会议纪要",
            owner.name,
            "下一步",
            f"约定 {(dates[3] + timedelta(days=14)).isoformat()} 与{buyer.name}做高层汇报，演示 ROI 测算；"
            f"{owner.name}负责准备试点方案。",
        ),
    ]


def _entries_en(
    rng: random.Random,
    account: Account,
    owner: User,
    buyer: Contact,
    champion: Contact,
    competitor: str,
    dates: list[date],
) -> list[Entry]:
    pain, impact = rng.choice(PAINS_EN)
    impact = impact.format(n=rng.randint(12, 60), m=rng.randint(20, 90))
    concern = rng.choice(CONCERNS_EN)
    budget = rng.randint(60, 400) * 1000
    threshold = rng.choice([50, 100, 250])
    return [
        (
            dates[0],
            "meeting_note",
            owner.name,
            "Discovery meeting",
            f"Met {champion.name} ({champion.title}). {account.name}'s main pain is {pain}: {impact}. "
            f"They liked the Lumina Insight live dashboards and want to start with one region.",
        ),
        (
            dates[1],
            "email",
            champion.name,
            "Budget and approval",
            f"{champion.name} wrote that the budget for this project is about ${budget:,}; anything above "
            f"${threshold}k needs sign-off from {buyer.name} ({buyer.title}), who is the economic buyer.",
        ),
        (
            dates[2],
            "meeting_note",
            owner.name,
            "Technical review",
            f"IT's main concern is {concern}. They are also evaluating {competitor}, which quoted about 15% less. "
            f"We promised the security pack and an integration outline.",
        ),
        (
            dates[3],
            "meeting_note",
            owner.name,
            "Next step",
            f"Agreed an executive review with {buyer.name} on {(dates[3] + timedelta(days=14)).isoformat()} "
            f"to walk through the ROI model; {owner.name} owns the pilot proposal.",
        ),
    ]
