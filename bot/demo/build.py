"""Build the embedded demo on first use: org, knowledge base, customer histories, sample calls.

Each step is idempotent and recorded in `<data_dir>/demo/state.json` when it completes, so an
interrupted build resumes where it stopped and a finished one costs nothing.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import func, select

from bot.app import App
from bot.core.identity import Identity, resolve_user
from bot.core.models import Call, Territory, User
from bot.demo.histories import write_histories
from bot.demo.org import build_org
from bot.demo.render import KB_SOURCE_DIR, read_source, render

__all__ = ["DEMO_TODAY", "DEMO_TRAINER", "SAMPLE_CALLS_DIR", "SAMPLE_CALL_OWNERS", "DemoReport", "ensure_demo"]

logger = logging.getLogger(__name__)

DEMO_TRAINER = "zhao.lin"  # adds the playbooks, battle cards and lessons
DEMO_SALES_OPS = "ops.admin"  # loads the customer histories exported from the CRM
SAMPLE_CALLS_DIR = Path(__file__).parent / "calls"
# Which demo rep made which sample call (English calls in North America, Chinese in China).
SAMPLE_CALL_OWNERS = {
    "a1_en_fleet_telematics": "jason.reed",
    "a2_en_hospital_scheduling": "emily.carter",
    "a3_en_predictive_maintenance": "daniel.kim",
    "a4_zh_auto_parts_maintenance": "li.wei",
    "a5_zh_retail_membership": "huang.lei",
    "a6_zh_insurance_call_qa": "zhou.ting",
}
# The demo's "today" is the build day; tests pin it for reproducible numbers.
DEMO_TODAY: Callable[[], date] = date.today

Progress = Callable[[str, int, int], None]  # (step description, done, total)


@dataclass
class DemoReport:
    built_org: bool = False
    documents: int = 0
    calls: int = 0
    steps_skipped: list[str] = field(default_factory=list)


def _state_file(app: App) -> Path:
    return app.settings.data_dir / "demo" / "state.json"


def _load_state(app: App) -> dict[str, bool]:
    path = _state_file(app)
    return json.loads(path.read_text()) if path.is_file() else {}


def _mark(app: App, step: str) -> None:
    state = _load_state(app)
    state[step] = True
    path = _state_file(app)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)


def ensure_demo(
    app: App,
    progress: Progress | None = None,
    *,
    today: date | None = None,
    with_calls: bool = True,
) -> DemoReport:
    progress = progress or (lambda _step, _done, _total: None)
    today = today or DEMO_TODAY()
    report = DemoReport()
    state = _load_state(app)

    with app.db.session() as session:
        has_org = bool(session.scalar(select(func.count()).select_from(Territory)))
    if not has_org:
        progress("Creating the demo sales org", 0, 1)
        with app.db.session() as session:
            summary = build_org(session, app.settings.demo_seed, today)
        logger.info("demo org: %s", summary)
        report.built_org = True
        progress("Creating the demo sales org", 1, 1)

    if not state.get("kb"):
        report.documents = _knowledge(app, progress, today)
        _mark(app, "kb")
    else:
        report.steps_skipped.append("kb")

    if with_calls and not state.get("calls"):
        report.calls = _calls(app, progress)
        _mark(app, "calls")
    elif with_calls:
        report.steps_skipped.append("calls")
    return report


def _identity(app: App, handle: str) -> Identity:
    with app.db.session() as session:
        return Identity.from_user(resolve_user(session, handle))


def _knowledge(app: App, progress: Progress, today: date) -> int:
    trainer, sales_ops = _identity(app, DEMO_TRAINER), _identity(app, DEMO_SALES_OPS)
    out_dir = app.settings.data_dir / "demo" / "kb"
    sources = sorted(p for p in KB_SOURCE_DIR.glob("*.md") if p.name != "README.md")
    with app.db.session() as session:
        histories = write_histories(session, app.settings.data_dir / "demo" / "histories", today)
    total = len(sources) + len(histories)
    done = 0
    for path in sources:
        source = read_source(path)
        rendered = render(source, out_dir)
        app.knowledge.add_file(
            trainer,
            rendered,
            source="demo",
            kind=source.kind,
            language=source.language,
            title=source.title,
            visibility="everyone",
        )
        done += 1
        progress("Adding knowledge-base documents", done, total)
    for history in histories:
        app.knowledge.add_file(
            sales_ops,
            history.path,
            source="demo",
            kind="customer_history",
            language=history.language,
            title=history.title,
            visibility="owner",
            account_id=history.account_id,
        )
        done += 1
        progress("Adding customer histories", done, total)
    return done


def _calls(app: App, progress: Progress) -> int:
    audio_dir = app.settings.data_dir / "demo" / "calls"
    audio_dir.mkdir(parents=True, exist_ok=True)
    submitted = 0
    items = sorted(SAMPLE_CALLS_DIR.glob("*.flac"))
    for path in items:
        owner = SAMPLE_CALL_OWNERS.get(path.stem)
        if owner is None:
            continue
        with app.db.session() as session:
            user_id = session.scalar(select(User.id).where(User.handle == owner))
            already = session.scalar(
                select(Call.id).where(Call.owner_id == user_id, Call.original_filename == path.name)
            )
        if already:
            continue
        local = audio_dir / path.name
        shutil.copyfile(path, local)
        app.calls.submit(_identity(app, owner), local, filename=path.name, source="demo")
        submitted += 1
    total = submitted
    for finished, _job in enumerate(iter(lambda: app.jobs.run_one(("call_analysis",)), None), start=1):
        progress("Analysing the sample calls", finished, total)
    return submitted
