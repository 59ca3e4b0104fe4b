"""The twelve dialogue gaps, detected without any LLM.

Most gaps are "a door opened and nobody walked through it": a customer turn carries a cue
(a budget hint, a competitor, a concern...) and the rep's next turns either answer it in
kind (a question about it, a differentiator, a commitment) or do not. Cue lexicons are
bilingual and written per concept, not per sample sentence; the two metric gaps come from
the timed transcript. Thresholds come from settings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from transcription.findings import Evidence, Finding
from transcription.metrics import CallMetrics, questions_in, split_sentences
from transcription.turns import Turn

__all__ = ["GAP_TYPES", "SEVERITY", "Doors", "GapThresholds", "detect_gaps"]

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

SEVERITY = {
    "budget_unclarified": "high",
    "decision_maker_unknown": "high",
    "decision_process_unclear": "medium",
    "pain_unexplored": "medium",
    "value_unquantified": "medium",
    "price_objection_mishandled": "high",
    "competitor_unaddressed": "high",
    "strategy_unlinked": "medium",
    "concern_unresolved": "high",
    "next_step_missing": "high",
    "monologue_excess": "medium",
    "discovery_questions_lacking": "medium",
}


@dataclass(frozen=True)
class GapThresholds:
    monologue_ratio: float = 0.65
    monologue_seconds: float = 60.0
    min_open_questions: int = 3
    answer_window_turns: int = 2  # rep turns after a door that count as answering it


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.I)


# --- cue lexicons (concepts, both languages) ------------------------------------------------
# One line per group of cues reads better than one cue per line.
# fmt: off
NUM = (
    r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|forty|fifty"
    r"|hundred|thousand|million|half|double|twice)"
)
ZH_NUM = r"[一二两三四五六七八九十百千万亿半\d]"

BUDGET_HINT = _rx(
    r"\bbudget", r"money is tight", r"\btight\b", r"\bafford", r"\bfunding\b", r"\bfunds\b", r"\bspend(ing)?\b",
    r"sign[- ]?off", r"\bapprov", r"\bcap(ped)?\b", r"\bceiling\b", r"\b(over|above|anything over) \$?" + NUM,
    r"预算", r"审批", r"批准", r"签字", r"经费", r"资金",
    r"钱(不多|紧|有限)", r"(超过|以上).{0,6}(要|需|得)", r"报.{0,4}批",
)
BUDGET_QUESTION = _rx(
    r"\bbudget", r"\bspend", r"\bapprov", r"sign[- ]?off", r"\bsigns?\b",
    r"how much .{0,20}(set aside|allocated|available|left)",
    r"\bfunding\b", r"预算", r"审批", r"批", r"签", r"花多少", r"多少钱", r"投入", r"经费",
)
DECISION_MAKER = _rx(
    r"who (else )?(signs|decides|approves|makes the (final )?(call|decision)|has the final say|owns the budget)",
    r"sign[- ]?off", r"\bsigns?\b", r"decision[- ]maker", r"final say", r"economic buyer", r"\bapprove",
    r"谁.{0,4}(签|拍板|决定|审批|批|说了算)", r"哪位.{0,6}(签|拍板|决定|审批|批)",
    r"决策人", r"拍板", r"签字", r"审批", r"说了算",
)
DECISION_PROCESS = _rx(
    r"how (will|would|do|are) you (compare|evaluate|decide|choose|select|assess)", r"\bcriteria\b", r"\bevaluat",
    r"\bprocurement\b", r"\btender\b", r"\bRFP\b", r"\bprocess\b", r"by when", r"\btimeline\b", r"\btime ?frame\b",
    r"\bdeadline\b", r"when (do|would|will) you (need|want|plan|expect|decide)",
    r"\blive by\b", r"date you", r"\bpilot\b",
    r"\bsteps?\b", r"评估", r"标准", r"指标", r"流程", r"招标",
    r"采购", r"什么时候", r"何时", r"时间表", r"上线", r"定下来",
    r"试点", r"步骤", r"怎么(选|决定)", r"如何(选|决定)",
)
PAIN = _rx(
    r"\bproblem", r"\bissue", r"\bstruggl", r"\bburnout\b", r"\bfail", r"\bkeep (missing|losing|failing|having)",
    r"\blos(e|ing|t)\b", r"\bpenalt", r"\bcomplain", r"\bfrustrat", r"\bpain", r"\bchalleng", r"\bdelay", r"\bbacklog",
    r"\bchurn", r"\bdowntime\b", r"\bstops?\b", r"\bmanual(ly)?\b", r"\bwaste", r"\bspreadsheet",
    r"问题", r"困难", r"痛点", r"麻烦", r"头疼", r"停机", r"上不去",
    r"下降", r"掉", r"漏", r"投诉", r"流失", r"耽误", r"延误",
    r"故障", r"出错", r"效率低", r"靠人工", r"没人懂", r"被.{0,4}通报",
)
PROBE = _rx(
    r"\bwhy\b", r"\bcaus", r"\bimpact", r"\bcost", r"how (often|many|much|long|big)", r"\beffect", r"\bmean for\b",
    r"\broot\b", r"原因", r"影响", r"为什么", r"多少", r"多大", r"多久", r"代价", r"损失", r"哪类", r"怎么回事",
)
OUTCOME = _rx(
    r"\bsav(e|es|ed|ing)s?\b", r"\bcut", r"\breduc", r"\blower", r"\bincreas", r"\bimprov", r"\bboost", r"\braise",
    r"\bpayback", r"\bROI\b", r"\breturn", r"\bpays? for itself",
    r"\bfewer\b", r"\bless\b", r"\bmore\b.{0,20}\b(revenue|sales)",
    r"\bdrop", r"\bgrow", r"\bfaster\b",
    r"提升", r"提高", r"增加", r"增长", r"降", r"减少", r"下降",
    r"节省", r"节约", r"省", r"收回", r"回本", r"回报", r"缩短",
)
QUANTITY = _rx(
    r"\d+(\.\d+)?\s?%", r"\bpercent", r"\$\s?\d", r"\b" + NUM + r"\s+(dollars|percent|hours|days|weeks|x|times|fold)",
    r"\b(by|about|roughly|around|over|than) (half|a third|a quarter|double)", r"\b\d[\d,.]*\b",
    r"百分之" + ZH_NUM, ZH_NUM + r"+\s?成", ZH_NUM + r"+\s?(万|元|块|倍|个点|小时|天)", r"一半", r"翻[一两]?番",
)
IMPLEMENTATION_TIME = _rx(
    r"\b(live|set ?up|setup|install|deploy|onboard|implement|clips? on|rollout)\b"
    r".{0,40}\b(days?|weeks?|months?|minutes?|hours?)\b",
    r"(上线|部署|安装|实施|交付).{0,6}" + ZH_NUM + r"+\s?(天|周|个月|月|小时|分钟)",
    ZH_NUM + r"+\s?(天|周|个月|月|小时|分钟).{0,6}(上线|部署|安装|实施|交付)",
)
PRICE_OBJECTION = _rx(
    r"\b(too|seems?|quite|very|pretty|a bit|rather) (high|expensive|steep|pricey|much)\b", r"\bexpensive\b",
    r"\bpricey\b", r"\bover(priced)?\b.{0,10}\bbudget\b", r"\bcheaper\b", r"\bcost(s)? (too|a lot)\b",
    r"\bprice\b.{0,30}\b(high|steep|much|concern)", r"\$\s?\d[\d,]*.{0,20}\b(high|steep|a lot|too much)",
    r"(价格|报价|费用|价钱|收费).{0,10}(太高|偏高|高|贵)", r"太贵", r"贵了", r"比.{0,10}(预想|预期|预算).{0,4}(高|贵)",
    r"(一年|每年|年费).{0,10}(太|偏|有点)(高|贵)",
)
DISCOUNT = _rx(
    r"\b\d+ ?% off\b", r"\bpercent off\b", r"\bdiscount", r"\btake .{0,10}off\b", r"\bknock .{0,10}off\b",
    r"\blower (the|our) price\b", r"\bbest price\b", r"\bprice match", r"\bcheaper\b",
    r"打.{0,2}折", r"折扣", r"优惠", r"便宜", r"最低价", r"让利", r"降价", r"减免", r"少收",
)
COMPETITOR = _rx(
    r"\b(talking|speaking) (to|with)\b", r"\blooking at\b",
    r"\bevaluating\b", r"\bconsidering\b", r"\bdemo (from|with)\b",
    r"\bquote from\b", r"\bcompetitor", r"\banother vendor",
    r"\bother vendors?\b", r"\b(already|currently) (use|using)\b",
    r"\b(versus|vs\.?)\b", r"\balternatives?\b",
    r"(也|还|同时|正)在(跟|和|与)", r"在(跟|和|与).{0,12}(谈|聊|接触)", r"也看过", r"看过.{0,12}(系统|产品|方案|平台)",
    r"也在看", r"竞品", r"别家", r"其他(厂商|供应商|家)", r"也(找|约)了", r"(对方|他们)(报价|家)",
)
DIFFERENTIATE = _rx(
    r"\bdiffer", r"\bunlike\b", r"\bcompared? (to|with)\b", r"\bsets? us apart\b", r"\bwhereas\b", r"\bonly (we|one)\b",
    r"\badvantage", r"\bstrength", r"\bbetter\b", r"\bstronger\b",
    r"\bwhat (do you|did you) like\b", r"\bwhat matters\b",
    r"\bhead[- ]to[- ]head\b", r"\bside[- ]by[- ]side\b",
    r"不同", r"区别", r"优势", r"差异", r"不一样", r"相比", r"而不只是", r"更(好|强|快|准)", r"独有", r"对比",
)
DISPARAGE = _rx(r"\b(terrible|awful|garbage|junk|useless|rubbish)\b", r"垃圾", r"很烂", r"不靠谱", r"骗人")
STRATEGY = _rx(
    r"\bannounc", r"\binitiative", r"\bstrateg", r"\bplan to\b", r"\bmerger\b", r"\bacquisition\b", r"\bacquir",
    r"\bexpan", r"\btransformation\b", r"\broadmap\b", r"\bby 20\d\d\b", r"\bgoing to (open|launch|move|build)\b",
    r"\bnew (sites?|stores?|plants?|markets?|regions?)\b", r"\bIPO\b", r"\bgoing public\b",
    r"宣布", r"战略", r"规划", r"计划", r"转型", r"并购", r"收购",
    r"扩张", r"布局", r"要把", r"改成", r"新开", r"上市", r"数字化",
)
STRATEGY_LINK = _rx(
    r"\bexactly where\b", r"\bthat (merger|plan|initiative|strategy|expansion|goal|announcement)\b", r"\bfits?\b",
    r"\bsupport(s)? (your|that|the)\b", r"\baligns?\b",
    r"\bpart of (your|that)\b", r"\bhelp (you )?(with|get) (that|there)\b",
    r"正好", r"契合", r"配合", r"助力", r"支持.{0,6}(战略|计划|转型|扩张)",
    r"(这个|这一|新)(计划|战略|规划|方向)", r"结合",
)
CONCERN = _rx(
    r"\bintegrat", r"\bconnector\b", r"\bAPI\b", r"\bmigrat", r"\bsecur", r"\bcomplian", r"\bGDPR\b", r"\bHIPAA\b",
    r"\bSOC ?2\b", r"\bprivacy\b", r"\bdata (residency|protection|leave|stay|go)", r"\bnetwork\b", r"\bfirewall\b",
    r"\bSSO\b", r"\bon[- ]prem", r"\bencrypt", r"\bISO ?27001\b",
    r"\bfeed (our|into)\b", r"\bpatient (data|information)\b",
    r"\bcompatib", r"\bworr(y|ied)\b", r"\bconcern",
    r"集成", r"对接", r"接口", r"迁移", r"安全", r"合规", r"等保",
    r"隐私", r"数据.{0,6}(上云|安全|迁移|放在|存储|出境|保护)",
    r"本地部署", r"机房", r"网络", r"顾虑", r"担心", r"加密", r"审计", r"兼容", r"私有化",
)
ANSWER_COMMIT = _rx(
    r"\byes\b", r"\bno\b", r"\bwe (support|sign|have|offer|provide|are|do|can|use|encrypt|never|keep|store)\b",
    r"\b(certified|compliant|standard|built[- ]in)\b", r"\bconnector\b",
    r"\bI'?ll (send|include|share|check|confirm|get|bring|set up|follow)",
    r"\bour (engineer|security|solution|technical)", r"\breport\b", r"\bagreement\b",
    r"支持", r"通过", r"符合", r"可以", r"提供", r"发给您", r"认证",
    r"没问题", r"不会", r"我们有", r"我们会", r"安排.{0,6}(工程师|技术)",
)
DISMISS = _rx(
    r"\bnot worry\b", r"\bdon'?t worry\b", r"\bworks? itself out\b", r"\blater\b", r"\bdown the (road|line)\b",
    r"\bnot (a|an) (issue|problem) (for now|yet)\b", r"\bcross that bridge\b", r"\bfor now\b",
    r"不用担心", r"后期再", r"以后再", r"先不(用|管|谈)", r"再说", r"不是问题", r"到时候",
)
DATE = _rx(
    r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", r"\btomorrow\b", r"\bnext (week|month)\b",
    r"\b(end|close) of (the )?(day|week|month)\b",
    r"\b(january|february|march|april|may|june|july|august|september|october|november|december) \d",
    r"\b\d{1,2}(st|nd|rd|th)\b",
    r"\b(first|second|third|fourth|fifth|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|twentieth)\b",
    r"\bat (one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\d{1,2})(:\d\d)?\s?(am|pm|o'?clock)?\b",
    r"\bthis (week|afternoon|evening)\b",
    r"(周|星期|礼拜)[一二三四五六日天]", r"明天", r"后天", r"下周", r"本周", r"这周", r"月底", r"周末前",
    ZH_NUM + r"+月" + ZH_NUM + r"+[日号]", ZH_NUM + r"+[日号]前", r"(上午|下午|晚上).{0,4}" + ZH_NUM + r"+点",
)
COMMIT = _rx(
    r"\bI'?ll\b", r"\bwe'?ll\b", r"\blet'?s\b", r"\bI will\b", r"\bwe will\b", r"\bsend\b", r"\bbook\b", r"\bschedule",
    r"\bmeet", r"\bcall\b", r"\bdemo\b", r"\bset (it|that) up\b", r"\bshall we\b", r"\bwork for you\b",
    r"我.{0,6}(发|带|约|安排|过去|去|来|给)", r"(发给|约|安排|演示|拜访|会议|碰一下|评估)", r"您看", r"可以吗",
)
# fmt: on


# --- helpers -------------------------------------------------------------------------------
Doors = dict[str, set[int]]  # door concept -> customer turn indices found by embeddings
NO_DOORS: Doors = {}


def _rep_after(turns: list[Turn], index: int, window: int) -> list[Turn]:
    return [t for t in turns[index + 1 :] if t.speaker == "rep"][:window]


def _doors(turns: list[Turn], cue: re.Pattern[str], semantic: set[int] | None = None) -> list[Turn]:
    """Customer turns that open this door: by the cue lexicon, or by embedding similarity."""
    semantic = semantic or set()
    return [t for t in turns if t.speaker == "customer" and (cue.search(t.text) or t.index in semantic)]


def _rep_questions(turns: Iterable[Turn]) -> list[tuple[Turn, str, bool]]:
    return [(t, q, is_open) for t in turns if t.speaker == "rep" for q, is_open in questions_in(t.text)]


def _quote(turn: Turn, cue: re.Pattern[str] | None = None) -> str:
    if cue is not None:
        for sentence in split_sentences(turn.text):
            if cue.search(sentence):
                return sentence
    return turn.text


def _door(turn: Turn, cue: re.Pattern[str], note: str) -> Evidence:
    return Evidence(turn.index, turn.start, turn.end, _quote(turn, cue), turn.speaker, "door", note)


def _rep(turn: Turn, note: str, cue: re.Pattern[str] | None = None) -> Evidence:
    return Evidence(turn.index, turn.start, turn.end, _quote(turn, cue), "rep", "rep", note)


def _absence(note: str, turns: list[Turn]) -> Evidence:
    end = turns[-1].end if turns else 0.0
    return Evidence(None, turns[0].start if turns else 0.0, end, "", None, "absence", note)


def _has_value_claim(text: str) -> bool:
    for sentence in split_sentences(text):
        if OUTCOME.search(sentence) and QUANTITY.search(sentence):
            stripped = IMPLEMENTATION_TIME.sub(" ", sentence)
            if OUTCOME.search(stripped) and QUANTITY.search(stripped):
                return True
    return False


# --- detectors: each returns a Finding or None ---------------------------------------------
Detector = Callable[[list[Turn], CallMetrics, GapThresholds, Doors], "Finding | None"]


def budget_unclarified(
    turns: list[Turn], metrics: CallMetrics, th: GapThresholds, extra: Doors = NO_DOORS
) -> Finding | None:
    doors = _doors(turns, BUDGET_HINT, extra.get("budget"))
    if not doors:
        return None
    asked = [(t, q) for t, q, _ in _rep_questions(turns) if BUDGET_QUESTION.search(q)]
    if asked:
        return None
    door = doors[0]
    return Finding(
        "budget_unclarified",
        SEVERITY["budget_unclarified"],
        0.8,
        [
            _door(door, BUDGET_HINT, "customer hinted at a budget limit or approval threshold"),
            _absence("no rep question about the budget, the amount or who approves the spend", turns),
        ],
        "The customer hinted at a budget constraint; the rep never clarified budget, amount or approver.",
    )


def decision_maker_unknown(
    turns: list[Turn], metrics: CallMetrics, th: GapThresholds, extra: Doors = NO_DOORS
) -> Finding | None:
    if not any(t.speaker == "customer" for t in turns):
        return None
    asked = [t for t, q, _ in _rep_questions(turns) if DECISION_MAKER.search(q)]
    if asked:
        return None
    return Finding(
        "decision_maker_unknown",
        SEVERITY["decision_maker_unknown"],
        0.7,
        [_absence("no rep question establishes who signs or who the economic buyer is", turns)],
        "The rep never established who signs or who the economic buyer is.",
    )


def decision_process_unclear(
    turns: list[Turn], metrics: CallMetrics, th: GapThresholds, extra: Doors = NO_DOORS
) -> Finding | None:
    if not any(t.speaker == "customer" for t in turns):
        return None
    asked = [t for t, q, _ in _rep_questions(turns) if DECISION_PROCESS.search(q)]
    if asked:
        return None
    return Finding(
        "decision_process_unclear",
        SEVERITY["decision_process_unclear"],
        0.7,
        [_absence("no rep question on evaluation criteria, procurement steps or timeline", turns)],
        "No question on how they will evaluate, the buying steps, or the timeline.",
    )


def pain_unexplored(
    turns: list[Turn], metrics: CallMetrics, th: GapThresholds, extra: Doors = NO_DOORS
) -> Finding | None:
    doors = _doors(turns, PAIN, extra.get("pain"))
    if not doors:
        return None
    for door in doors:
        for rep in _rep_after(turns, door.index, th.answer_window_turns):
            if any(is_open or PROBE.search(q) for q, is_open in questions_in(rep.text)):
                return None  # the rep dug into at least one stated problem
    door = doors[0]
    follow = _rep_after(turns, door.index, 1)
    evidence = [_door(door, PAIN, "customer stated a problem")]
    evidence += [_rep(t, "the rep moved on without asking about cause or impact") for t in follow]
    return Finding(
        "pain_unexplored",
        SEVERITY["pain_unexplored"],
        0.75,
        evidence,
        "The customer stated a problem; the rep did not probe its cause or impact.",
    )


def value_unquantified(
    turns: list[Turn], metrics: CallMetrics, th: GapThresholds, extra: Doors = NO_DOORS
) -> Finding | None:
    rep_turns = [t for t in turns if t.speaker == "rep"]
    if not rep_turns or any(_has_value_claim(t.text) for t in rep_turns):
        return None
    return Finding(
        "value_unquantified",
        SEVERITY["value_unquantified"],
        0.7,
        [_absence("no rep statement ties the offer to a measurable outcome (percent, money, hours, payback)", turns)],
        "The rep never tied the offer to a measurable outcome.",
    )


def price_objection_mishandled(
    turns: list[Turn], metrics: CallMetrics, th: GapThresholds, extra: Doors = NO_DOORS
) -> Finding | None:
    for door in _doors(turns, PRICE_OBJECTION, extra.get("price")):
        reply = _rep_after(turns, door.index, 1)
        if not reply:
            return Finding(
                "price_objection_mishandled",
                SEVERITY["price_objection_mishandled"],
                0.6,
                [
                    _door(door, PRICE_OBJECTION, "customer objected on price"),
                    _absence("the call ended without an answer", turns),
                ],
                "The price objection was left unanswered.",
            )
        answer = reply[0]
        if DISCOUNT.search(answer.text) and not questions_in(answer.text):
            return Finding(
                "price_objection_mishandled",
                SEVERITY["price_objection_mishandled"],
                0.85,
                [
                    _door(door, PRICE_OBJECTION, "customer objected on price"),
                    _rep(answer, "the rep offered a discount at once instead of probing and reframing value", DISCOUNT),
                ],
                "The rep discounted immediately instead of probing the objection and reframing value.",
            )
        if not questions_in(answer.text) and not _has_value_claim(answer.text):
            return Finding(
                "price_objection_mishandled",
                SEVERITY["price_objection_mishandled"],
                0.7,
                [
                    _door(door, PRICE_OBJECTION, "customer objected on price"),
                    _rep(answer, "the rep neither probed the objection nor reframed value"),
                ],
                "The rep ignored the price objection.",
            )
    return None


def competitor_unaddressed(
    turns: list[Turn], metrics: CallMetrics, th: GapThresholds, extra: Doors = NO_DOORS
) -> Finding | None:
    for door in _doors(turns, COMPETITOR, extra.get("competitor")):
        replies = _rep_after(turns, door.index, 1)
        answer = replies[0] if replies else None
        if answer is not None and DISPARAGE.search(answer.text):
            return Finding(
                "competitor_unaddressed",
                SEVERITY["competitor_unaddressed"],
                0.8,
                [
                    _door(door, COMPETITOR, "customer named a competitor"),
                    _rep(answer, "the rep disparaged the competitor"),
                ],
                "The rep disparaged the competitor instead of differentiating.",
            )
        if answer is not None and (
            DIFFERENTIATE.search(answer.text) or any(is_open for _, is_open in questions_in(answer.text))
        ):
            continue
        evidence = [_door(door, COMPETITOR, "customer named a competitor")]
        evidence.append(
            _rep(answer, "no differentiation in the rep's answer") if answer else _absence("no rep answer", turns)
        )
        return Finding(
            "competitor_unaddressed",
            SEVERITY["competitor_unaddressed"],
            0.75,
            evidence,
            "The customer named a competitor; the rep gave no differentiation.",
        )
    return None


# fmt: off
_EN_STOP = frozenset({
    "that", "this", "with", "have", "from", "they", "them", "their", "there", "what", "which", "would", "could",
    "should", "about", "just", "also", "your", "ours", "were", "been", "into", "more", "most", "some", "such",
    "only", "very", "really", "year", "years", "next", "last", "week", "month", "plan", "plans",
})
# fmt: on
_ZH_STOP = frozenset(
    {"我们", "你们", "今年", "明年", "一个", "这个", "那个", "就是", "已经", "现在", "还有", "可以", "要把"}
)


def _content_keys(text: str) -> set[str]:
    words = {w.lower() for w in re.findall(r"[A-Za-z]{4,}", text)} - _EN_STOP
    stems = {w[:5] for w in words}
    chinese = re.sub(r"[^\u4e00-\u9fff]", " ", text)
    bigrams = {c[i : i + 2] for c in chinese.split() for i in range(len(c) - 1)} - _ZH_STOP
    return stems | bigrams


def strategy_unlinked(
    turns: list[Turn], metrics: CallMetrics, th: GapThresholds, extra: Doors = NO_DOORS
) -> Finding | None:
    for door in _doors(turns, STRATEGY, extra.get("strategy")):
        quote = _quote(door, STRATEGY)
        keys = _content_keys(quote)
        replies = _rep_after(turns, door.index, th.answer_window_turns)
        linked = any(STRATEGY_LINK.search(r.text) or (keys & _content_keys(r.text)) for r in replies)
        if linked:
            continue
        evidence = [_door(door, STRATEGY, "customer mentioned a strategic initiative")]
        evidence += [_rep(r, "the rep did not connect the offer to it") for r in replies[:1]]
        return Finding(
            "strategy_unlinked",
            SEVERITY["strategy_unlinked"],
            0.7,
            evidence,
            "The customer mentioned a strategic initiative; the rep did not connect the offer to it.",
        )
    return None


def concern_unresolved(
    turns: list[Turn], metrics: CallMetrics, th: GapThresholds, extra: Doors = NO_DOORS
) -> Finding | None:
    answered_by: int | None = None  # the rep turn that answered the last concern
    for door in _doors(turns, CONCERN, extra.get("concern")):
        if answered_by is not None and door.index == answered_by + 1:
            continue  # the customer acknowledging or restating a concern just answered
        replies = _rep_after(turns, door.index, th.answer_window_turns)
        first = replies[0] if replies else None
        dismissed = first is not None and DISMISS.search(first.text) is not None
        answer = next((r for r in replies if ANSWER_COMMIT.search(r.text) and not DISMISS.search(r.text)), None)
        if answer is not None and not dismissed:
            answered_by = answer.index
            continue
        note = "the rep brushed the concern off" if dismissed else "no answer or follow-up commitment"
        evidence = [_door(door, CONCERN, "customer raised a technical, security or compliance concern")]
        evidence.append(_rep(first, note) if first else _absence(note, turns))
        return Finding(
            "concern_unresolved",
            SEVERITY["concern_unresolved"],
            0.8 if dismissed else 0.65,
            evidence,
            "A technical or compliance concern was left without an answer or a follow-up commitment.",
        )
    return None


def next_step_missing(
    turns: list[Turn], metrics: CallMetrics, th: GapThresholds, extra: Doors = NO_DOORS
) -> Finding | None:
    for turn in turns:
        if turn.speaker != "rep":
            continue
        for sentence in split_sentences(turn.text):
            if DATE.search(sentence) and COMMIT.search(sentence):
                return None
    last_rep = [t for t in turns if t.speaker == "rep"][-1:]
    evidence = [_rep(t, "the call closes without a dated next step with an owner") for t in last_rep] or [
        _absence("no dated next step", turns)
    ]
    return Finding(
        "next_step_missing",
        SEVERITY["next_step_missing"],
        0.75,
        evidence,
        "The call ended without a concrete next step with an owner and a date.",
    )


def monologue_excess(
    turns: list[Turn], metrics: CallMetrics, th: GapThresholds, extra: Doors = NO_DOORS
) -> Finding | None:
    over_ratio = metrics.rep_talk_ratio > th.monologue_ratio
    over_length = metrics.longest_monologue_s > th.monologue_seconds
    if not (over_ratio or over_length):
        return None
    longest = max((t for t in turns if t.speaker == "rep"), key=lambda t: t.duration, default=None)
    note = (
        f"rep talk ratio {metrics.rep_talk_ratio:.0%} (threshold {th.monologue_ratio:.0%}); "
        f"longest monologue {metrics.longest_monologue_s:.0f} s"
    )
    evidence = [Evidence(None, 0.0, metrics.duration_s, "", None, "metric", note)]
    if longest is not None:
        evidence.append(_rep(longest, "the rep's longest turn"))
    margin = max(metrics.rep_talk_ratio - th.monologue_ratio, metrics.longest_monologue_s / th.monologue_seconds - 1)
    return Finding(
        "monologue_excess",
        SEVERITY["monologue_excess"],
        min(0.95, 0.7 + margin),
        evidence,
        "The rep talked much more than the customer.",
    )


def discovery_questions_lacking(
    turns: list[Turn], metrics: CallMetrics, th: GapThresholds, extra: Doors = NO_DOORS
) -> Finding | None:
    if metrics.open_question_turns >= th.min_open_questions:
        return None
    asked = [
        _rep(t, "open question", None) for t in turns if t.speaker == "rep" and any(o for _, o in questions_in(t.text))
    ]
    note = f"{metrics.open_question_turns} rep turn(s) with an open question (minimum {th.min_open_questions})"
    return Finding(
        "discovery_questions_lacking",
        SEVERITY["discovery_questions_lacking"],
        0.8,
        [Evidence(None, 0.0, metrics.duration_s, "", None, "metric", note), *asked],
        "The rep asked too few open, discovery questions.",
    )


DETECTORS: dict[str, Detector] = {
    "budget_unclarified": budget_unclarified,
    "decision_maker_unknown": decision_maker_unknown,
    "decision_process_unclear": decision_process_unclear,
    "pain_unexplored": pain_unexplored,
    "value_unquantified": value_unquantified,
    "price_objection_mishandled": price_objection_mishandled,
    "competitor_unaddressed": competitor_unaddressed,
    "strategy_unlinked": strategy_unlinked,
    "concern_unresolved": concern_unresolved,
    "next_step_missing": next_step_missing,
    "monologue_excess": monologue_excess,
    "discovery_questions_lacking": discovery_questions_lacking,
}


def detect_gaps(
    turns: list[Turn], metrics: CallMetrics, thresholds: GapThresholds, semantic_doors: Doors | None = None
) -> list[Finding]:
    """Run the twelve detectors; `semantic_doors` adds customer cues found by embeddings."""
    if not turns:
        return []
    findings = []
    for detector in DETECTORS.values():
        finding = detector(turns, metrics, thresholds, semantic_doors or NO_DOORS)
        if finding is not None:
            findings.append(finding)
    return findings
