"""The twelve dialogue gaps, detected with no LLM: bilingual cue lexicons, question
classification, "the customer opened a door and no rep turn walked through it" logic, and the
call metrics. Thresholds are settings. Each finding carries its evidence (turns, times, quotes).

The cue lexicons describe how these moments are phrased in sales conversations in general
(budget limits, approval thresholds, competitor mentions, announcements, security and
integration worries, price pushback, dated commitments), not the sentences of any one call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from bot.settings import Settings
from transcription._asr import Turn
from transcription._metrics import CallMetrics, is_question, questions_in, sentences

__all__ = ["GAP_TYPES", "Evidence", "Finding", "detect_gaps", "GAP_NAMES"]

GAP_TYPES = (
    "budget_unclarified",
    "decision_maker_unknown",
    "decision_process_unclear",
    "pain_unexplored",
    "value_unquantified",
    "price_objection_mishandled",
    "competitor_unaddressed",
    "strategy_unlinked",
    "concern_unresolved",
    "next_step_missing",
    "monologue_excess",
    "discovery_questions_lacking",
)

GAP_NAMES = {
    "budget_unclarified": ("Budget not clarified", "未澄清客户（隐性）预算约束"),
    "decision_maker_unknown": ("Economic buyer not identified", "未识别经济决策人"),
    "decision_process_unclear": ("Decision process and criteria unclear", "未明确决策流程与标准"),
    "pain_unexplored": ("Pain not explored", "痛点未深挖"),
    "value_unquantified": ("Value not quantified", "价值未量化"),
    "price_objection_mishandled": ("Price objection mishandled", "价格异议应对不当"),
    "competitor_unaddressed": ("Competitor not addressed", "竞品对比未回应"),
    "strategy_unlinked": ("Customer strategy not linked", "未关联客户近期战略"),
    "concern_unresolved": ("Technical/compliance concern unresolved", "技术/合规顾虑未解决"),
    "next_step_missing": ("No concrete next step", "缺少明确下一步"),
    "monologue_excess": ("Talking more than listening", "讲多听少"),
    "discovery_questions_lacking": ("Too few discovery questions", "提问不足"),
}


def _cues(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(patterns), re.IGNORECASE)


# --- doors the customer opens -------------------------------------------------------------------
BUDGET_DOOR = _cues(
    r"\bbudget", r"money is tight", r"\btight\b", r"can'?t afford", r"\bafford", r"\bfunding\b", r"\bspend(ing)? (limit|cap)",
    r"(over|above|more than) \$?[\d,]+.{0,30}(sign|approv)", r"(sign-?off|approval) (from|by)", r"needs? (sign-?off|approval)",
    r"预算", r"资金", r"经费", r"钱.{0,4}紧", r"紧张", r"超过.{0,12}(审批|批准|签)", r"(报|需要|要).{0,6}审批",
)
PRICE_DOOR = _cues(
    r"too (expensive|high|much|pricey)", r"\bexpensive\b", r"\bpricey\b", r"(seems?|looks?|is|sounds?) (a bit |very |quite )?high",
    r"\bprice (is|seems|looks)", r"cheaper", r"costs? too much", r"over our budget",
    r"太贵", r"贵了", r"价格.{0,6}(高|贵)", r"报价.{0,8}(高|贵)", r"比.{0,10}(便宜|高)", r"太高",
)
COMPETITOR_DOOR = _cues(
    r"(also )?(talking|speaking) (to|with)", r"(also )?(looking at|evaluating|considering)\s+[A-Z]", r"\bcompetitor",
    r"(a |their )?(quote|proposal|demo) from", r"(already|currently) (use|using)\s+[A-Z]", r"compared? (with|to)\s+[A-Z]",
    r"也在(跟|和|与).{1,12}(谈|聊|接触)", r"(之前|也|还)(看过|考察过|试过|用过|评估过)", r"竞品", r"另一家", r"别家",
)
STRATEGY_DOOR = _cues(
    r"\bannounc", r"\bstrateg", r"\binitiative", r"\bmerger\b", r"\bacquisition", r"\bacquir", r"\bexpansion\b", r"\bexpand(ing)? (to|into)",
    r"\btransformation", r"\bplan to\b", r"\bby 20\d\d\b", r"\brolling out\b", r"\breorganiz",
    r"宣布", r"战略", r"规划", r"转型", r"合并", r"收购", r"扩张", r"改成", r"新开", r"计划(今年|明年|在)",
)
CONCERN_DOOR = _cues(
    r"\bsecurity\b", r"\bcomplian", r"\bGDPR\b", r"\bHIPAA\b", r"\bSOC ?2\b", r"\bISO ?27001", r"\bprivacy\b", r"\bintegrat",
    r"\bmigrat", r"\bnetwork\b", r"\bfirewall", r"\bon-?prem", r"\bdata (leave|residency|stays?|go)", r"\bpatient (data|information)",
    r"\bfeed (our|into)", r"\bconnect (to|with) our", r"\bAPI\b", r"\bsingle sign-on|\bSSO\b", r"\bworr(y|ied)\b", r"\bconcern",
    r"等保", r"合规", r"安全", r"隐私", r"集成", r"对接", r"迁移", r"上云", r"机房", r"本地部署", r"私有化", r"顾虑", r"担心", r"数据.{0,6}(放|存|出)",
)
PAIN_DOOR = _cues(
    r"\bproblem", r"\bissue", r"\bstruggl", r"\bkeep (missing|failing|losing|filling)", r"\bfail(ing|ures?)?\b", r"\bmissing\b",
    r"\bburnout\b", r"\bpenalt", r"\bcomplain", r"\bchurn", r"\blate\b", r"\bdown ?time\b", r"\bslow\b", r"\bmanual(ly)?\b", r"\bpain",
    r"问题", r"停机", r"漏掉", r"投诉", r"上不去", r"下降", r"掉到", r"耽误", r"困难", r"麻烦", r"痛点", r"流失", r"延误", r"靠人工", r"不够",
)

# --- what a good rep answer contains ---------------------------------------------------------------
BUDGET_ASK = _cues(
    r"\bbudget", r"how much .{0,30}(spend|invest|set aside|allocated|left)", r"\b(who|whom) .{0,20}(sign|approv)", r"approv",
    r"预算", r"多少钱", r"审批", r"(谁|哪位).{0,8}(签|批|拍板|决定)", r"投入多少",
)
DECISION_MAKER = _cues(
    r"\b(who|whom)\b.{0,30}\b(sign|signs|approve|approves|decide|decides|decision)", r"sign(s)? off", r"\bdecision[- ]maker",
    r"economic buyer", r"\bsign-?off\b", r"\bsigns\b", r"final (say|decision)",
    r"(谁|哪位|哪个).{0,10}(签|审批|批|拍板|决定|决策|说了算)", r"决策人", r"拍板",
)
NAMED_SIGNER = _cues(
    r"\b(VP|CFO|CEO|COO|CIO|CTO|director|officer|president|board|owner|head of|chief)\b.{0,40}\b(signs|approves|decides)",
    r"(signs|sign-?off|approval)\s+(from|by)\s+(our|the)?\s*\w+", r"\b[A-Z][a-z]+ signs\b",
    r"(副总裁|总裁|总经理|董事|总监|CFO|CEO|老板|局长|处长|院长|[\u4e00-\u9fff]总)\S{0,4}(签字|签|审批|拍板|批)",
)
PROCESS_ASK = _cues(
    r"how (will|would|do) you (compare|evaluate|decide|choose|select|assess)", r"\bcriteria\b", r"\bprocess\b", r"\bprocurement\b",
    r"\btender\b", r"\bRFP\b", r"\btimeline\b", r"\bby when\b", r"\bwhen (do|would|will) you (need|want|plan|expect|decide|choose)",
    r"\bdate you need\b", r"\bgo[- ]live\b", r"\bbe live\b", r"\bnext steps? (on your side|internally)", r"\bevaluat",
    r"流程", r"招标", r"评估", r"指标", r"标准", r"什么时候", r"何时", r"时间(表|点|节点)", r"上线", r"采购", r"定下来", r"怎么(选|比|决定)", r"选型",
)
PROBE = _cues(
    r"\bwhy\b", r"caus", r"\bcost\b", r"\bimpact\b", r"how (much|often|many|long)", r"what happens", r"\baffect", r"what does that",
    r"为什么", r"原因", r"影响", r"多少", r"代价", r"损失", r"多大", r"多久", r"怎么(造成|导致)",
)
DIFFERENTIATE = _cues(
    r"\bdiffer", r"\bunlike\b", r"\bwhereas\b", r"\bcompared (to|with)\b", r"\bonly (we|us)\b", r"\bthey (don'?t|can'?t|lack)",
    r"\badvantage", r"\bstand out", r"\bwhat sets", r"\bbetter at\b", r"\binstead of\b",
    r"不同", r"区别", r"差异", r"优势", r"不一样", r"相比", r"而不只是", r"不像", r"比他们", r"更(强|好|快)",
)
DISCOUNT = _cues(
    r"\bdiscount", r"\b\d+ ?(%|percent) off", r"take .{0,10}off", r"(lower|reduce|drop|cut) (the|our) price", r"best price",
    r"打.{0,3}折", r"折扣", r"优惠", r"便宜", r"降价", r"最低价", r"让利",
)
PRICE_PROBE = _cues(
    r"compared? (to|with) what", r"what are you comparing", r"relative to", r"what (price|number) (did|were) you", r"what('s| is) behind",
    r"跟什么(比|方案)", r"和什么比", r"与什么比", r"对比的是", r"参照",
)
DISMISSIVE = _cues(
    r"not worry", r"don'?t worry", r"\blater\b", r"works? itself out", r"not (a|an) (issue|problem)", r"let'?s not", r"for now",
    r"后期再", r"先不用", r"不用担心", r"以后再", r"到时候再", r"先不管", r"先放一放",
)
ANSWER = _cues(
    r"\byes\b", r"\bno\b", r"\bwe (support|sign|provide|offer|have|use|run|encrypt|host|keep)", r"\bconnector\b", r"\bcertif",
    r"\bI'?ll (send|include|share|get|follow)", r"\bwe'?ll (send|include|share|get|follow)", r"\bcompliant", r"\bencrypt",
    r"支持", r"通过了", r"已经", r"提供", r"发给您", r"可以", r"没问题", r"符合", r"加密", r"部署",
)
OUTCOME = _cues(
    r"\b(cut|cuts|reduc|sav|lower|increas|improv|boost|drop|grow|shorten|payback|pays? for itself|ROI|return)",
    r"降|减少|提升|提高|节省|省下|收回|回本|增加|下降|缩短|增长|回报",
)
QUANTITY = _cues(r"\d", r"[一二两三四五六七八九十百千万]+(个点|成|倍|万|千|小时|天|周|个月|年)", r"百分之", r"\bhalf\b", r"\bdouble")
IMPLEMENTATION = _cues(r"\blive in\b", r"\bgo[- ]live\b", r"\bset ?up\b", r"\bimplement", r"\bonboard", r"\bdeploy", r"上线", r"部署", r"实施")
COMMITMENT = _cues(
    r"\bI'?ll\b", r"\bwe'?ll\b", r"\blet'?s\b", r"\bcould you\b", r"\bcan you\b", r"\bwill you\b", r"\bbook\b", r"\bschedule\b",
    r"\bsend\b", r"\bmeet\b", r"\bcall\b", r"\bdemo\b",
    r"我(会|来|下周|明天|周|把|带)", r"我们(会|来|下周|明天)", r"约", r"安排", r"发给", r"演示", r"拜访", r"评估",
)
DATE = _cues(
    r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", r"\btomorrow\b", r"\bnext (week|month)\b", r"\bby (the )?end of\b",
    r"\b(january|february|march|april|may|june|july|august|september|october|november|december) \d", r"\bthe \w+(st|nd|rd|th)\b",
    r"\b\d{1,2}(:\d\d)? ?(am|pm)\b", r"\bat (one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|noon)\b", r"\d{4}-\d{2}-\d{2}",
    r"周[一二三四五六日天]", r"星期[一二三四五六日天]", r"礼拜[一二三四五六日天]", r"明天", r"后天", r"下周", r"月\d+[日号]", r"\d+[日号]", r"[一二三四五六七八九十]+[日号]",
    r"(上午|下午|晚上)", r"[一二三四五六七八九十\d]+点",
)
_STOP = frozenset("the a an and or of to in on for our we you your is are was were be just also so that this with by at it its".split())


@dataclass(frozen=True)
class Evidence:
    turn: int
    speaker: str
    start: float
    end: float
    quote: str
    note: str = ""


@dataclass(frozen=True)
class Finding:
    type: str
    severity: str  # low | medium | high
    confidence: float
    evidence: tuple[Evidence, ...]
    explanation: str
    judged_by: str = "rules"
    coaching: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["evidence"] = [asdict(e) for e in self.evidence]
        return data


def _evidence(turn: Turn, note: str = "") -> Evidence:
    return Evidence(turn.index, turn.speaker, turn.start, turn.end, turn.text, note)


def _next_rep(turns: Sequence[Turn], after: Turn) -> Turn | None:
    return next((t for t in turns if t.index > after.index and t.speaker == "rep"), None)


def _rep_questions(turns: Sequence[Turn]) -> list[tuple[Turn, str]]:
    asked = []
    for turn in turns:
        if turn.speaker == "rep":
            for sentence in sentences(turn.text):
                if is_question(sentence):
                    asked.append((turn, sentence))
    return asked


def _door_walk(
    turns: Sequence[Turn],
    door: re.Pattern[str],
    answered: Callable[[Turn, Turn], bool],
    gap: str,
    severity: str,
    door_note: str,
    miss_note: str,
) -> Finding | None:
    """The customer opened a door; the rep's next turn did not walk through it."""
    for turn in turns:
        if turn.speaker == "rep" or not door.search(turn.text):
            continue
        reply = _next_rep(turns, turn)
        if reply is None or not answered(turn, reply):
            evidence = [_evidence(turn, door_note)]
            if reply is not None:
                evidence.append(_evidence(reply, miss_note))
            return Finding(gap, severity, 0.75, tuple(evidence), miss_note)
    return None


def _content_words(text: str) -> set[str]:
    words = {w.lower() for w in re.findall(r"[A-Za-z]{4,}|\d{4}", text)} - _STOP
    for run in re.findall(r"[\u4e00-\u9fff]{2,}", text):
        words |= {run[i : i + 2] for i in range(len(run) - 1)}
    return words


def detect_gaps(turns: Sequence[Turn], metrics: CallMetrics, settings: Settings) -> list[Finding]:
    findings: list[Finding] = []
    customer = [t for t in turns if t.speaker != "rep"]
    rep = [t for t in turns if t.speaker == "rep"]
    asked = _rep_questions(turns)
    if not rep:
        return findings

    # 1. budget: a hint of limits or approval thresholds, and the rep never asks.
    budget_doors = [t for t in customer if BUDGET_DOOR.search(t.text)]
    if budget_doors and not any(BUDGET_ASK.search(q) and t.index > budget_doors[0].index - 2 for t, q in asked):
        findings.append(Finding(
            "budget_unclarified", "high", 0.8,
            (_evidence(budget_doors[0], "the customer hinted at a budget limit or an approval threshold"),),
            "The customer hinted at budget limits; no rep question clarified the budget, the amount or who approves spend.",
        ))

    # 2. decision maker: nobody established who signs.
    established = any(DECISION_MAKER.search(q) for _, q in asked) or any(NAMED_SIGNER.search(t.text) for t in customer)
    if not established:
        hint = next((t for t in customer if re.search(r"boss|manager|leadership|领导|汇报|老板", t.text, re.I)), None)
        evidence = (_evidence(hint, "a decision maker was hinted at but never identified"),) if hint else (_evidence(rep[-1], "call ended without knowing who signs"),)
        findings.append(Finding(
            "decision_maker_unknown", "high", 0.7, evidence,
            "The rep never established who signs or who the economic buyer is.",
        ))

    # 3. decision process: not a single question on criteria, steps or timeline.
    if not any(PROCESS_ASK.search(q) for _, q in asked):
        findings.append(Finding(
            "decision_process_unclear", "medium", 0.7, (_evidence(rep[-1], "no question on criteria, procurement or timeline"),),
            "No question on evaluation criteria, procurement steps or timeline.",
        ))

    # 4. pain: a stated problem the rep did not probe (cause or impact) right after.
    pain_doors = [t for t in customer if PAIN_DOOR.search(t.text)]
    if pain_doors:
        probed = any(
            any(PROBE.search(q) and door.index < t.index <= door.index + 4 for t, q in asked) for door in pain_doors
        )
        if not probed:
            door = pain_doors[0]
            reply = _next_rep(turns, door)
            evidence = [_evidence(door, "the customer stated a problem")]
            if reply:
                evidence.append(_evidence(reply, "the rep moved on without asking about cause or impact"))
            findings.append(Finding("pain_unexplored", "high", 0.75, tuple(evidence), "The customer stated a problem; the rep did not probe its cause or impact."))

    # 5. value: no rep sentence ties the offer to a measurable outcome.
    quantified = [
        (t, s) for t in rep for s in sentences(t.text)
        if OUTCOME.search(s) and QUANTITY.search(s) and not (IMPLEMENTATION.search(s) and not OUTCOME.search(IMPLEMENTATION.sub("", s)))
    ]
    if not quantified:
        pitch = max(rep, key=lambda t: t.duration)
        findings.append(Finding(
            "value_unquantified", "medium", 0.7, (_evidence(pitch, "the longest pitch names no measurable outcome"),),
            "The rep never tied the offer to a measurable outcome (ROI, money, time or percent saved).",
        ))

    # 6. price objection: discounted at once, or ignored.
    def price_handled(door: Turn, reply: Turn) -> bool:
        if DISCOUNT.search(reply.text):
            return False
        return bool(PRICE_PROBE.search(reply.text) or questions_in(reply.text)[0] or (OUTCOME.search(reply.text) and QUANTITY.search(reply.text)))

    found = _door_walk(turns, PRICE_DOOR, price_handled, "price_objection_mishandled", "high",
                       "the customer objected on price", "the rep discounted at once or ignored the objection instead of probing and reframing value")
    if found:
        findings.append(found)

    # 7. competitor: named, and the rep gave no differentiation.
    found = _door_walk(turns, COMPETITOR_DOOR, lambda _d, reply: bool(DIFFERENTIATE.search(reply.text)), "competitor_unaddressed", "high",
                       "the customer named a competitor", "the rep gave no differentiation")
    if found:
        findings.append(found)

    # 8. strategy: an initiative or announcement the rep did not connect to.
    def linked(door: Turn, reply: Turn) -> bool:
        shared = _content_words(door.text) & _content_words(reply.text)
        return bool(shared) or bool(re.search(r"exactly where|fits|support(s)? your|as you|ties (in|into)|正好|契合|配合|助力|支撑|结合", reply.text, re.I))

    found = _door_walk(turns, STRATEGY_DOOR, linked, "strategy_unlinked", "medium",
                       "the customer mentioned a strategic initiative", "the rep did not connect the offer to it")
    if found:
        findings.append(found)

    # 9. concern: a technical, security or compliance worry left without answer or commitment.
    def resolved(door: Turn, reply: Turn) -> bool:
        return not DISMISSIVE.search(reply.text) and bool(ANSWER.search(reply.text))

    found = _door_walk(turns, CONCERN_DOOR, resolved, "concern_unresolved", "high",
                       "the customer raised a technical or compliance concern", "no answer and no follow-up commitment")
    if found:
        findings.append(found)

    # 10. next step: no rep commitment with a date.
    dated = [t for t in rep if any(COMMITMENT.search(s) and DATE.search(s) for s in sentences(t.text))]
    if not dated:
        findings.append(Finding(
            "next_step_missing", "high", 0.8, (_evidence(rep[-1], "the call ended without a dated next step"),),
            "The call ended without a concrete next step with an owner and a date.",
        ))

    # 11. monologue: talk ratio or the longest stretch.
    if metrics.rep_talk_ratio > settings.monologue_ratio_threshold or metrics.longest_monologue_s > settings.monologue_seconds_threshold:
        longest = max(rep, key=lambda t: t.duration)
        severity = "high" if metrics.rep_talk_ratio > settings.monologue_ratio_threshold + 0.1 else "medium"
        findings.append(Finding(
            "monologue_excess", severity, 0.9, (_evidence(longest, f"rep talk ratio {metrics.rep_talk_ratio:.0%}, longest stretch {metrics.longest_monologue_s:.0f} s"),),
            f"The rep talked {metrics.rep_talk_ratio:.0%} of the time (top reps ~43%).",
        ))

    # 12. discovery: fewer open questions than the setting.
    if metrics.open_question_turns < settings.min_open_questions:
        evidence = tuple(_evidence(t, "an open question") for t in rep if questions_in(t.text)[0]) or (_evidence(rep[0], "no open question at all"),)
        findings.append(Finding(
            "discovery_questions_lacking", "medium", 0.85, evidence,
            f"Only {metrics.open_question_turns} rep turn(s) asked an open question (aim for at least {settings.min_open_questions}).",
        ))
    return findings
