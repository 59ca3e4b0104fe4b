"""Coaching per gap: a talk track, up to three micro-lessons from the knowledge base, and a
role-play scenario the rep can practise in chat."""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transcription.gaps import Finding

if TYPE_CHECKING:
    from bot.app import App
    from bot.core.identity import Identity

__all__ = ["TALK_TRACKS", "RolePlay", "talk_track", "lessons_for", "roleplay_for", "coaching_for"]

logger = logging.getLogger(__name__)

DEMO_LESSONS = Path(__file__).resolve().parent.parent / "bot" / "demo" / "kb"

TALK_TRACKS: dict[str, dict[str, str]] = {
    "budget_unclarified": {
        "en": "\"You mentioned money is tight this year. So we size this right: what range have you set aside, and who approves spend above it?\"",
        "zh": "“您提到今年预算比较紧。为了把方案做得合适，想了解一下这块大概预留了多少预算？超过多少需要谁审批？”",
    },
    "decision_maker_unknown": {
        "en": "\"Besides you, who else will weigh in on this, and whose signature does it finally need?\"",
        "zh": "“除了您之外，还有哪些人会参与这个决定？最终是哪位领导签字拍板？”",
    },
    "decision_process_unclear": {
        "en": "\"How will you compare the options, what are the steps from here to a signed order, and by when do you need to decide?\"",
        "zh": "“你们会按哪些标准来评估？从现在到签约要走哪些流程？希望什么时候定下来？”",
    },
    "pain_unexplored": {
        "en": "\"You said this keeps happening. What's causing it, and what does it cost you each time?\"",
        "zh": "“您说这个问题反复出现，主要是什么原因？每次发生会带来多大影响？”",
    },
    "value_unquantified": {
        "en": "\"Customers like you cut this by about X% within six months; on your numbers that is roughly $Y a year. Shall we check it against your figures?\"",
        "zh": "“和您类似的客户半年内把这项指标降低了约百分之X，按您的数据算，一年大概能节省Y万元。要不要用您的数据一起核算一下？”",
    },
    "price_objection_mishandled": {
        "en": "\"Fair question. Compared with what? ... Let's put it against the cost of the problem: at your numbers it pays back in N months.\"",
        "zh": "“理解。您是跟什么方案比较觉得高？……我们按您的损失算一下：大概N个月就能收回投入。”",
    },
    "competitor_unaddressed": {
        "en": "\"Good to look around. What do you like about their approach? The main difference you will see with us is ...\"",
        "zh": "“多比较是对的。您觉得他们哪里比较好？我们最大的不同在于……”",
    },
    "strategy_unlinked": {
        "en": "\"That initiative matters: here is how this supports it directly ... What would success look like for it next year?\"",
        "zh": "“这个战略很关键。我们的方案正好可以这样支持它……明年这个项目做成什么样算成功？”",
    },
    "concern_unresolved": {
        "en": "\"That's an important concern. Here is how we handle it ..., and I'll send our security documentation by Thursday with an engineer on a call.\"",
        "zh": "“这个顾虑很重要。我们是这样解决的……周四前我把安全合规材料发给您，并安排工程师和您的IT一起过一遍。”",
    },
    "next_step_missing": {
        "en": "\"Let's put the next step in the calendar: I'll send the proposal by Friday; can we meet with your CFO on Tuesday at ten?\"",
        "zh": "“我们把下一步定下来：我周五前把方案发给您，下周二上午十点约您和财务负责人一起过一下，可以吗？”",
    },
    "monologue_excess": {
        "en": "Stop after two sentences and hand the floor back: \"Which of these matters most to you?\"",
        "zh": "说两句就停，把话题交还给客户：“这几点里，哪一点对您最重要？”",
    },
    "discovery_questions_lacking": {
        "en": "Open with three open questions before any pitch: \"How do you handle this today? What gets in the way? What would change if it were solved?\"",
        "zh": "介绍产品前先问三个开放式问题：“你们现在是怎么做的？最大的障碍是什么？解决了会带来什么变化？”",
    },
}

_GOALS: dict[str, dict[str, str]] = {
    "budget_unclarified": {"en": "Clarify the budget range and who approves the spend.", "zh": "问清预算范围和审批人。"},
    "decision_maker_unknown": {"en": "Find out who signs and who else decides.", "zh": "问清谁签字、还有谁参与决策。"},
    "decision_process_unclear": {"en": "Learn the evaluation criteria, buying steps and timeline.", "zh": "问清评估标准、采购流程和时间表。"},
    "pain_unexplored": {"en": "Probe the cause and the cost of the problem.", "zh": "追问问题的原因和影响。"},
    "value_unquantified": {"en": "Tie the offer to a number: percent, money or hours saved.", "zh": "用数字说明价值：百分比、金额或节省的时间。"},
    "price_objection_mishandled": {"en": "Probe the objection and reframe value without discounting.", "zh": "先追问、再用价值回应，不要直接打折。"},
    "competitor_unaddressed": {"en": "Differentiate calmly, without disparaging.", "zh": "冷静说明差异，不贬低对手。"},
    "strategy_unlinked": {"en": "Connect the offer to the customer's initiative.", "zh": "把方案和客户的战略联系起来。"},
    "concern_unresolved": {"en": "Answer the concern or commit to a dated follow-up.", "zh": "正面回答顾虑，或承诺有日期的跟进。"},
    "next_step_missing": {"en": "Agree a next step with an owner and a date.", "zh": "约定有负责人、有日期的下一步。"},
    "monologue_excess": {"en": "Keep each answer short and hand back with a question.", "zh": "回答简短，用问题把话题交还给客户。"},
    "discovery_questions_lacking": {"en": "Ask at least three open questions.", "zh": "至少问三个开放式问题。"},
}


@dataclass(frozen=True)
class RolePlay:
    gap_type: str
    language: str
    persona: str
    opening_line: str
    goal: str
    success_criteria: list[str]
    instructions: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def talk_track(gap_type: str, language: str) -> str:
    return TALK_TRACKS[gap_type]["zh" if language == "zh" else "en"]


def _front_matter_gap(text: str) -> str | None:
    match = re.search(r"^---\s*\n(.*?)\n---", text, re.S)
    if not match:
        return None
    found = re.search(r"^gap:\s*['\"]?([a-z_]+)", match.group(1), re.M)
    return found.group(1) if found else None


def _lesson_files(gap_type: str, language: str) -> list[dict[str, str]]:
    """The demo lessons on disk: used when the knowledge base has none indexed."""
    out = []
    for lang in ([language, "en" if language == "zh" else "zh"]):
        path = DEMO_LESSONS / f"lesson-{gap_type}-{lang}.md"
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            if _front_matter_gap(text) in (None, gap_type):
                body = re.sub(r"^---.*?---\s*", "", text, flags=re.S)
                title = next((l.lstrip("# ").strip() for l in body.splitlines() if l.startswith("#")), path.stem)
                out.append({"title": title, "source": path.name, "snippet": body.strip()[:400]})
    return out[:3]


def lessons_for(app: App | None, identity: Identity | None, gap_type: str, language: str, query: str) -> list[dict[str, str]]:
    """Up to three micro-lessons for this gap: from the knowledge base, else the demo files."""
    if app is not None and identity is not None:
        try:
            hits = app.retriever.search(identity, query, kinds=["lesson"], k=3, gap=gap_type)
            if not hits:
                # Lessons whose gap tag did not survive ingestion: rank all lessons by meaning,
                # preferring those named after the gap.
                ranked = app.retriever.search(identity, query, kinds=["lesson"], k=6)
                hits = [h for h in ranked if gap_type in h.source] or ranked[:1]
        except Exception:  # retrieval down or not built: coaching still works from the files
            logger.warning("lesson retrieval failed for %s; using the lesson files", gap_type, exc_info=True)
            hits = []
        if hits:
            seen: set[int | str] = set()
            ordered = []
            for hit in hits:  # one entry per lesson: its best chunk
                if hit.doc_id not in seen:
                    seen.add(hit.doc_id)
                    ordered.append(hit)
            return [{"title": h.title, "source": Path(h.source).name, "snippet": h.text[:400]} for h in ordered[:3]]
    return _lesson_files(gap_type, language)


def roleplay_for(finding: Finding, language: str) -> RolePlay:
    lang = "zh" if language == "zh" else "en"
    door = next((e for e in finding.evidence if e.role == "door" and e.quote), None)
    if lang == "zh":
        opening = door.quote if door else "我们先聊聊你们的方案吧。"
        persona = "一位谨慎的客户业务负责人，按通话里的原话开场，只有在销售做对时才松口。"
        instructions = "我扮演客户。请像真实通话一样回答；输入“结束”后我会按成功标准给您反馈。"
    else:
        opening = door.quote if door else "So, tell me about your solution."
        persona = "A cautious business buyer who opens with the words from your call and only warms up when you handle it well."
        instructions = "I play the customer. Reply as you would on the call; type 'done' and I'll score you against the criteria."
    goal = _GOALS[finding.type][lang]
    criteria = [goal, TALK_TRACKS[finding.type][lang]]
    return RolePlay(finding.type, lang, persona, opening, goal, criteria, instructions)


def coaching_for(app: App | None, identity: Identity | None, finding: Finding, language: str) -> dict[str, Any]:
    query = f"{_GOALS[finding.type]['zh' if language == 'zh' else 'en']} {finding.summary}"
    return {
        "talk_track": talk_track(finding.type, language),
        "lessons": lessons_for(app, identity, finding.type, language, query),
        "roleplay": roleplay_for(finding, language).to_dict(),
    }
