"""The facts of the agent's data tools, written by code from the tools' typed results.

A small local model garbles figures it is asked to copy ("170,1400.0 CNY") and fills gaps with
its own opinions. So for the data tools (pipeline, forecast and what-if, resonance, risk
alerts, territory summary, account overview, call coaching) the figures, the tables and the
reasons behind a score are rendered here, in the asker's language, and the model adds at most
a short framing. Sales logic comes from the engines: the pipeline's focus list is the forecast
engine's own per-deal expected value (`insights.accounts.focus_deals`), the forecast's picks are
its own, the resonance signals are exactly those the score lists; nothing is ranked or
explained here that the result does not hold.

Every figure, date and name put into the text is also listed in `Facts.figures` (for a check
that the model's framing invents none). The wording lives in `prompts/<language>/messages.yaml`
under `facts.`; numbers are formatted here: amounts with thousands separators and their
currency, counts as integers, shares as whole percents, dates ISO.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from bot.core.channel import ReplyTable
from bot.core.models import CallStatus
from bot.core.text import gap_label, language_of, messages, t
from insights.accounts import AccountOverview, OpportunityLine, PipelineView
from insights.forecast import WHAT_IF_PARAMETERS, ForecastResult, OpportunityPick
from insights.periods import parse_period
from insights.resonance import ResonanceResult, load_dimensions
from insights.risk import SEVERITY_ORDER, AlertView
from insights.summary import TerritorySummary
from transcription.service import CallAnalysis, GapCoaching

__all__ = ["CallCoaching", "Facts", "WhatIfComparison", "render_facts"]

TEXT_ITEMS = 5  # list items written into the text; a longer list also goes into a table
BRIEF_ITEMS = 3  # items of a list written inline, on one line
QUOTE_CHARS = 90
_JOIN = " · "  # between inline items: reads the same in both languages
# Figures inside free text the result carries (an alert's message, a gap's summary, a quote).
_NUMBER = re.compile(r"\d(?:[\d,.:]*\d)?%?")


@dataclass(frozen=True)
class Facts:
    """A data tool's result told for people: `text` in the asker's language (a chat message),
    `tables` for the platforms to render, and every figure, date and name of `text`."""

    text: str
    tables: list[ReplyTable]
    figures: tuple[str, ...]


@dataclass(frozen=True)
class CallCoaching:
    """What the call_coaching tool reads for one call: its analysis and its gaps' coaching."""

    analysis: CallAnalysis
    coaching: list[GapCoaching]


@dataclass(frozen=True)
class WhatIfComparison:
    """A what-if forecast beside the plain forecast of the same scope and period, so the
    answer can say how far the change moves it."""

    baseline: ForecastResult
    scenario: ForecastResult


def render_facts(tool: str, result: object, language: str) -> Facts:
    """The facts of one data tool's result (`tool`: its name in chains.tools) in `language`.
    Raises TypeError when `result` is not what that tool returns."""
    w = _Writer(language_of(language))
    if tool == "my_pipeline" and isinstance(result, PipelineView):
        _pipeline(w, result)
    elif tool in ("forecast", "what_if_forecast") and isinstance(result, ForecastResult):
        _forecast(w, result, None)
    elif tool == "what_if_forecast" and isinstance(result, WhatIfComparison):
        _forecast(w, result.scenario, result.baseline)
    elif tool == "resonance_score" and isinstance(result, ResonanceResult):
        _resonance(w, result)
    elif tool == "risk_alerts" and isinstance(result, list) and all(isinstance(a, AlertView) for a in result):
        _alerts(w, result)
    elif tool == "territory_summary" and isinstance(result, TerritorySummary):
        _summary(w, result)
    elif tool == "account_overview" and isinstance(result, AccountOverview):
        _account(w, result)
    elif tool == "call_coaching" and isinstance(result, CallCoaching):
        _call(w, result)
    else:
        raise TypeError(f"No facts for tool '{tool}' from a {type(result).__name__}.")
    return w.facts()


# --- formatting ----------------------------------------------------------------------------------


def _money(amount: float, currency: str) -> str:
    """Whole units with thousands separators: sales amounts are not quoted in cents."""
    return f"{round(amount):,} {currency}".rstrip()


def _signed_money(amount: float, currency: str) -> str:
    return f"{round(amount):+,} {currency}".rstrip()


def _percent(ratio: float) -> str:
    return f"{round(ratio * 100)}%"


def _number(value: float) -> str:
    """A measured value (days, a rate, a count of views) without float noise."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _what_if_value(name: str, value: float) -> str:
    """A driver's change in points or percent; signed where the driver can go both ways."""
    spec = WHAT_IF_PARAMETERS.get(name)
    shown = f"{round(value * 100, 1):g}"
    return f"+{shown}" if spec is not None and spec.minimum < 0 < value else shown


class _Writer:
    """The lines and tables of one Facts, remembering every figure put into a line."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.lines: list[str] = []
        self.tables: list[ReplyTable] = []
        self._figures: list[str] = []

    def text(self, key: str, **values: str) -> str:
        return t(f"facts.{key}", self.language, **values)

    def line(self, key: str, **values: str) -> None:
        self.lines.append(self.text(key, **values))

    def then(self, text: str, key: str, **values: str) -> str:
        """`text` followed by the sentence facts.<key> (Chinese sentences need no space)."""
        return text + ("" if self.language == "zh" else " ") + self.text(key, **values)

    def item(self, text: str, rank: int | None = None) -> None:
        self.lines.append(f"{rank}. {text}" if rank is not None else f"- {text}")

    def label(self, group: str, value: str) -> str:
        """The readable name of a code value; a value the catalogue lacks (a CRM's own stage
        or role) reads as it is."""
        return messages(self.language).get(f"facts.{group}.{value}", value.replace("_", " "))

    def fig(self, value: str) -> str:
        self._figures.append(value)
        return value

    def free(self, value: str) -> str:
        """Free text from the result: the figures inside it are figures too."""
        self._figures.extend(_NUMBER.findall(value))
        return value

    def money(self, amount: float, currency: str) -> str:
        return self.fig(_money(amount, currency))

    def amounts(self, items: Iterable[tuple[float, str]], currency: str) -> str:
        """The total per currency ("1,200,000 CNY + 300,000 USD"): amounts in two currencies
        are never added up. `currency`: the one to show a zero in."""
        totals: dict[str, float] = {}
        for amount, unit in items:
            totals[unit] = totals.get(unit, 0.0) + amount
        return " + ".join(self.money(v, k) for k, v in sorted(totals.items())) or self.money(0, currency)

    def count(self, value: int) -> str:
        return self.fig(str(value))

    def percent(self, ratio: float) -> str:
        return self.fig(_percent(ratio))

    def decimal(self, value: float, places: int = 1, *, signed: bool = False) -> str:
        return self.fig(f"{value:{'+' if signed else ''}.{places}f}")

    def optional(self, value: float | None, places: int = 2, *, percent: bool = False) -> str:
        if value is None:
            return self.text("na")
        return self.percent(value) if percent else self.decimal(value, places)

    def table(self, title: str, columns: Iterable[str], rows: Iterable[tuple[object, ...]]) -> None:
        self.tables.append(
            ReplyTable(
                columns=tuple(self.text(f"col.{c}") for c in columns),
                rows=tuple(rows),
                title=self.text(f"table.{title}"),
            )
        )

    def facts(self) -> Facts:
        figures = tuple(dict.fromkeys(f for f in self._figures if f))
        return Facts(text="\n".join(self.lines), tables=self.tables, figures=figures)


# --- the tools -----------------------------------------------------------------------------------


def _pipeline(w: _Writer, view: PipelineView) -> None:
    lines = view.opportunities
    if not lines:
        w.line("pipeline.empty")
        return
    # Totals come from the deals themselves, per currency (an admin's book mixes them).
    currency = view.currency.split(",")[0]
    end = parse_period(view.period, date.today()).end.isoformat()
    closing = w.amounts(((o.amount, o.currency) for o in lines if o.expected_close <= end), currency)
    w.line(
        "pipeline.headline",
        total=w.amounts(((o.amount, o.currency) for o in lines), currency),
        count=w.count(len(lines)),
    )
    period = w.fig(view.period)
    if view.target is None:
        w.line("pipeline.no_target", period=period, closing=closing)
    elif view.coverage is None:  # nothing left to book
        w.line("pipeline.target_booked", period=period, closing=closing, target=w.money(view.target, currency))
    else:
        w.line(
            "pipeline.coverage",
            period=period,
            closing=closing,
            coverage=w.percent(view.coverage),
            target=w.money(view.target, currency),
        )
    stages = []
    for stage in view.by_stage:
        in_stage = [o for o in lines if o.stage == stage.stage]
        if in_stage:
            stages.append(
                w.text(
                    "pipeline.stage",
                    stage=w.label("stage", stage.stage),
                    count=w.count(len(in_stage)),
                    amount=w.amounts(((o.amount, o.currency) for o in in_stage), currency),
                )
            )
    w.line("pipeline.by_stage", stages=_JOIN.join(stages))
    if view.focus:
        w.line("pipeline.focus", period=period)
    for rank, deal in enumerate(view.focus[:TEXT_ITEMS], start=1):
        text = w.text(
            "pipeline.focus_item",
            deal=w.fig(deal.name),
            account=w.fig(deal.account),
            amount=w.money(deal.amount, deal.currency),
            stage=w.label("stage", deal.stage),
            close=w.fig(deal.expected_close),
            win=w.percent(deal.win_probability),
            timing=w.percent(deal.in_period_probability),
            expected=w.money(deal.expected_value, deal.currency),
        )
        if deal.risks:  # list_alerts puts the most severe first
            risk = deal.risks[0]
            text = w.then(
                text,
                "pipeline.focus_risk",
                severity=w.label("severity", risk.severity),
                message=w.free(_alert_message(risk, w.language)),
            )
        w.item(text, rank)
    if len(view.focus) > TEXT_ITEMS:
        w.table(
            "focus",
            ("rank", "deal", "account", "stage", "amount", "close", "win", "in_period", "expected", "risks"),
            (
                (
                    rank,
                    d.name,
                    d.account,
                    w.label("stage", d.stage),
                    _money(d.amount, d.currency),
                    d.expected_close,
                    _percent(d.win_probability),
                    _percent(d.in_period_probability),
                    _money(d.expected_value, d.currency),
                    ", ".join(w.label("severity", r.severity) for r in d.risks),
                )
                for rank, d in enumerate(view.focus, start=1)
            ),
        )
    if len(lines) > TEXT_ITEMS:
        _opportunity_table(w, "open_deals", lines)


def _opportunity_table(w: _Writer, title: str, lines: list[OpportunityLine]) -> None:
    w.table(
        title,
        ("deal", "account", "stage", "amount", "close", "days_in_stage", "competitor"),
        (
            (
                o.name,
                o.account,
                w.label("stage", o.stage),
                _money(o.amount, o.currency),
                o.expected_close,
                o.days_in_stage,
                o.competitor or "",
            )
            for o in lines
        ),
    )


def _forecast(w: _Writer, f: ForecastResult, baseline: ForecastResult | None) -> None:
    cur = f.currency
    w.line(
        "forecast.headline",
        scope=w.fig(f.scope_label),
        period=w.fig(f.period),
        as_of=w.fig(f.as_of),
        point=w.money(f.point, cur),
        level=w.percent(f.interval_level),
        lower=w.money(f.lower, cur),
        upper=w.money(f.upper, cur),
    )
    if f.what_if:
        changes = [w.text(f"what_if.{k}", value=w.fig(_what_if_value(k, v))) for k, v in f.what_if.items()]
        w.line("forecast.scenario", changes=_JOIN.join(changes))
    if baseline is not None:
        w.line(
            "forecast.versus",
            baseline=w.money(baseline.point, cur),
            delta=w.fig(_signed_money(f.point - baseline.point, cur)),
        )
    _target(w, f)
    _accuracy(w, f)
    if f.top_opportunities:
        w.line("forecast.picks")
    for rank, pick in enumerate(f.top_opportunities[:TEXT_ITEMS], start=1):
        w.item(_pick(w, pick, cur), rank)


def _target(w: _Writer, f: ForecastResult) -> None:
    booked = w.money(f.booked_to_date, f.currency)
    if f.target is None or f.gap_to_target is None:
        w.line("forecast.no_target", booked=booked, period=w.fig(f.period))
        return
    attainment = w.optional(f.attainment_forecast, percent=True)
    w.line(
        "forecast.short" if f.gap_to_target > 0 else "forecast.ahead",
        booked=booked,
        target=w.money(f.target, f.currency),
        gap=w.money(abs(f.gap_to_target), f.currency),
        attainment=attainment,
    )


def _accuracy(w: _Writer, f: ForecastResult) -> None:
    """Exactly what the result carries about its accuracy: MAPE, MASE, over how many periods,
    tracked or backtested, and the bias multiplier applied."""
    acc = f.accuracy
    w.line(
        "forecast.accuracy_tracked" if acc.source == "tracked" else "forecast.accuracy_backtest",
        periods=w.count(acc.periods),
        mape=w.optional(acc.mape, percent=True),
        mase=w.optional(acc.mase),
        bias=w.decimal(acc.bias_correction, 2),
    )


def _pick(w: _Writer, pick: OpportunityPick, currency: str) -> str:
    return w.text(
        "forecast.pick",
        deal=w.fig(pick.name),
        account=w.fig(pick.account),
        amount=w.money(pick.amount, currency),
        stage=w.label("stage", pick.stage),
        close=w.fig(pick.expected_close),
        expected=w.money(pick.expected_value, currency),
    )


def _resonance(w: _Writer, r: ResonanceResult) -> None:
    zh = w.language == "zh"
    w.line(
        "resonance.headline",
        account=w.fig(r.account),
        as_of=w.fig(r.as_of),
        score=w.decimal(r.score),
        week=w.decimal(r.change_7d, signed=True),
        month=w.decimal(r.change_30d, signed=True),
    )
    if r.buyer_type is not None:
        name = w.fig((r.buyer_type_zh if zh else r.buyer_type_en) or r.buyer_type)
        share = r.buyer_type_shares.get(r.buyer_type)
        if share is None:
            w.line("resonance.buyer_type", buyer_type=name)
        else:
            w.line("resonance.buyer_type_share", buyer_type=name, share=w.percent(share))
    w.line("resonance.signals" if r.top_signals else "resonance.no_signals")
    # In the result's own order: the signals behind the buyer type first, then by weight.
    for signal in r.top_signals:
        w.item(
            w.text(
                "resonance.signal",
                signal=w.fig(signal.name_zh if zh else signal.name_en),
                share=w.percent(signal.contribution),
                count=w.count(signal.occurrences),
            )
        )
    if r.next_actions:
        actions = _JOIN.join(w.free(a.zh if zh else a.en) for a in r.next_actions)
        w.line("resonance.actions", actions=actions)


def _alert_message(alert: AlertView, language: str) -> str:
    """The alert in the asker's language where it was stored in it (the view holds the
    caller's language; the Chinese text is also kept in its evidence)."""
    if language == "zh":
        return str((alert.evidence or {}).get("message_zh") or alert.message)
    return alert.message


def _severity_counts(w: _Writer, alerts: list[AlertView]) -> dict[str, str]:
    counts = Counter(a.severity for a in alerts)
    return {severity: w.count(counts[severity]) for severity in SEVERITY_ORDER}


def _alerts(w: _Writer, alerts: list[AlertView]) -> None:
    if not alerts:
        w.line("risk.none")
        return
    w.line("risk.headline", count=w.count(len(alerts)), **_severity_counts(w, alerts))
    for alert in alerts[:TEXT_ITEMS]:
        text = w.text(
            "risk.item",
            severity=w.label("severity", alert.severity),
            account=w.fig(alert.account or alert.territory or ""),
            message=w.free(_alert_message(alert, w.language)),
        )
        if alert.remedies:
            text = w.then(text, "risk.remedy", remedy=w.free(alert.remedies[0]))
        w.item(text)
    if len(alerts) > TEXT_ITEMS:
        _alert_table(w, alerts)


def _alert_table(w: _Writer, alerts: list[AlertView]) -> None:
    w.table(
        "alerts",
        ("severity", "account", "message", "remedy", "created"),
        (
            (
                w.label("severity", a.severity),
                a.account or a.territory or "",
                _alert_message(a, w.language),
                a.remedies[0] if a.remedies else "",
                a.created_at[:10],
            )
            for a in alerts
        ),
    )


def _summary(w: _Writer, s: TerritorySummary) -> None:
    cur, f, p = s.currency, s.forecast, s.pipeline
    title, period, booked = w.fig(s.title), w.fig(s.period), w.money(s.booked, cur)
    if s.target is None:
        w.line("summary.headline_no_target", title=title, period=period, booked=booked)
    else:
        w.line(
            "summary.headline",
            title=title,
            period=period,
            booked=booked,
            target=w.money(s.target, cur),
            attainment=w.optional(s.attainment, percent=True),
        )
    text = w.text(
        "summary.forecast",
        point=w.money(f.point, cur),
        level=w.percent(f.interval_level),
        lower=w.money(f.lower, cur),
        upper=w.money(f.upper, cur),
    )
    if f.gap_to_target is not None:
        gap = w.money(abs(f.gap_to_target), cur)
        text = w.then(text, "summary.short" if f.gap_to_target > 0 else "summary.ahead", gap=gap)
    w.lines.append(text)
    _accuracy(w, f)
    w.line(
        "summary.pipeline",
        open=w.money(p.open_amount, cur),
        deals=w.count(p.open_deals),
        closing=w.money(p.closing_this_period, cur),
        coverage=w.optional(p.coverage, percent=True),
        slipped=w.percent(p.slipped_share),
    )
    if s.top_opportunities:
        picks = [
            w.text(
                "summary.pick",
                deal=w.fig(pick.name),
                account=w.fig(pick.account),
                expected=w.money(pick.expected_value, cur),
            )
            for pick in s.top_opportunities[:BRIEF_ITEMS]
        ]
        w.line("summary.picks", deals=_JOIN.join(picks))
    if not s.risk_alerts:
        w.line("risk.none")
    else:
        first = s.risk_alerts[0]
        w.line(
            "summary.risks",
            count=w.count(len(s.risk_alerts)),
            high=w.count(sum(1 for a in s.risk_alerts if a.severity == "high")),
            account=w.fig(first.account or first.territory or ""),
            message=w.free(_alert_message(first, w.language)),
        )
    for key, moves in (("summary.rising", s.resonance_rising), ("summary.falling", s.resonance_falling)):
        if moves:
            items = [
                w.text(
                    "summary.mover",
                    account=w.fig(m.account),
                    score=w.decimal(m.score),
                    change=w.decimal(m.change_30d, signed=True),
                )
                for m in moves
            ]
            w.line(key, accounts=_JOIN.join(items))
    _rep_calls(w, s)
    w.table(
        "stages",
        ("stage", "amount", "days_in_stage"),
        (
            (
                w.label("stage", stage),
                _money(amount, cur),
                _number(days) if (days := p.stage_ageing_days.get(stage)) else "",
            )
            for stage, amount in p.by_stage.items()
        ),
    )
    if len(s.risk_alerts) > 1:
        _alert_table(w, s.risk_alerts)


def _rep_calls(w: _Writer, s: TerritorySummary) -> None:
    """Per rep, what the summary holds about them: the analysed calls and their gaps."""
    heat = s.gap_heatmap
    if heat is None:
        w.line("summary.no_calls")
        return
    reps, rows = [], []
    for name, calls, counts in zip(heat.rep_names, heat.calls, heat.counts, strict=True):
        ranked = sorted(
            ((n, gap) for n, gap in zip(counts, heat.gap_types, strict=True) if n), key=lambda x: x[0], reverse=True
        )
        if ranked:
            reps.append(
                w.text(
                    "summary.rep",
                    rep=w.fig(name),
                    calls=w.count(calls),
                    gap=gap_label(ranked[0][1], w.language),
                    count=w.count(ranked[0][0]),
                )
            )
        else:
            reps.append(w.text("summary.rep_clean", rep=w.fig(name), calls=w.count(calls)))
        top = _JOIN.join(f"{gap_label(gap, w.language)} {n}" for n, gap in ranked[:BRIEF_ITEMS])
        rows.append((name, calls, top))
    w.line("summary.calls", reps=_JOIN.join(reps[:TEXT_ITEMS]))
    if len(reps) > TEXT_ITEMS:
        w.table("reps", ("rep", "calls", "gaps"), rows)


def _account(w: _Writer, a: AccountOverview) -> None:
    name = w.fig(a.name)
    if a.name_en and a.name_en != a.name:
        name = w.text("account.also", name=name, other=w.fig(a.name_en))
    details = [w.fig(w.label("industry", a.industry)), w.label("segment", a.segment)]
    if a.employees:
        details.append(w.text("account.employees", count=w.fig(f"{a.employees:,}")))
    if a.city:
        details.append(w.fig(a.city))
    w.line("account.headline", account=name, details=_JOIN.join(details))
    w.line(
        "account.owner_key" if a.key_account else "account.owner",
        owner=w.fig(a.owner),
        territory=w.fig(a.territory),
    )
    if a.contacts:
        contacts = []
        for c in a.contacts[:TEXT_ITEMS]:
            person = w.fig(c.name)
            role = w.label("role", c.buying_role) if c.buying_role else None
            if c.title and role:
                contacts.append(w.text("account.contact_title_role", name=person, title=w.fig(c.title), role=role))
            elif c.title or role:
                contacts.append(w.text("account.contact", name=person, about=w.fig(c.title) if c.title else role or ""))
            else:
                contacts.append(person)
        w.line("account.contacts", contacts=_JOIN.join(contacts))
    opps = a.open_opportunities
    if not opps:
        w.line("account.no_opportunities")
    else:
        currency = opps[0].currency
        w.line(
            "account.opportunities",
            count=w.count(len(opps)),
            total=w.amounts(((o.amount, o.currency) for o in opps), currency),
        )
    for o in opps[:TEXT_ITEMS]:
        values = {
            "deal": w.fig(o.name),
            "amount": w.money(o.amount, o.currency),
            "stage": w.label("stage", o.stage),
            "close": w.fig(o.expected_close),
            "days": w.count(o.days_in_stage),
        }
        if o.competitor:
            w.item(w.text("account.opportunity_competitor", competitor=w.fig(o.competitor), **values))
        else:
            w.item(w.text("account.opportunity", **values))
    if len(opps) > TEXT_ITEMS:
        _opportunity_table(w, "opportunities", opps)
    _account_history(w, a)


def _account_history(w: _Writer, a: AccountOverview) -> None:
    """The latest stage moves and buyer signals: a few inline, all of them in tables."""
    if a.recent_stage_changes:
        moves = [
            w.text(
                "account.move",
                on=w.fig(m.on),
                deal=w.fig(m.opportunity),
                from_stage=w.label("stage", m.from_stage) if m.from_stage else w.text("account.created"),
                to_stage=w.label("stage", m.to_stage),
            )
            for m in a.recent_stage_changes[:BRIEF_ITEMS]
        ]
        w.line("account.moves", moves=_JOIN.join(moves))
    if len(a.recent_stage_changes) > BRIEF_ITEMS:
        w.table(
            "moves",
            ("date", "deal", "from", "to", "amount"),
            (
                (
                    m.on,
                    m.opportunity,
                    w.label("stage", m.from_stage) if m.from_stage else "",
                    w.label("stage", m.to_stage),
                    _number(m.amount),
                )
                for m in a.recent_stage_changes
            ),
        )
    if not a.latest_signals:
        return
    names = load_dimensions().names
    zh = "zh" if w.language == "zh" else "en"

    def named(signal: str) -> str:
        # Operational signals (inventory days, visit rates) are not scored dimensions.
        return names.get(signal, {}).get(zh) or signal.replace("_", " ")

    signals = [
        # A value of 1 is one occurrence: only a measure (days, a rate) is worth its number.
        w.text("account.signal_once", signal=w.fig(named(s.signal)), at=w.fig(s.at[:10]))
        if s.value == 1
        else w.text("account.signal", signal=w.fig(named(s.signal)), value=w.fig(_number(s.value)), at=w.fig(s.at[:10]))
        for s in a.latest_signals[:BRIEF_ITEMS]
    ]
    w.line("account.signals", signals=_JOIN.join(signals))
    if len(a.latest_signals) > BRIEF_ITEMS:
        w.table(
            "signals",
            ("signal", "value", "date"),
            ((named(s.signal), _number(s.value), s.at[:10]) for s in a.latest_signals),
        )


def _call(w: _Writer, c: CallCoaching) -> None:
    a = c.analysis
    call, title = w.fig(str(a.call_id)), w.fig(a.title)
    if a.status is CallStatus.FAILED:
        w.line("call.failed", call=call, title=title, error=w.free(a.error or ""))
        return
    if a.status is not CallStatus.DONE or a.metrics is None:
        w.line("call.pending", call=call, title=title, status=w.label("call_status", a.status.value))
        return
    m = a.metrics
    w.line(
        "call.headline",
        call=call,
        title=title,
        duration=w.fig(_clock(a.duration if a.duration is not None else m.duration_s)),
        language=w.label("language", a.language or ""),
    )
    w.line(
        "call.metrics",
        ratio=w.percent(m.rep_talk_ratio),
        monologue=w.fig(_clock(m.longest_monologue_s)),
        open=w.count(m.open_question_count),
        questions=w.count(m.question_count),
        per_minute=w.decimal(m.questions_per_minute),
        patience=w.decimal(m.patience_s),
    )
    if a.speakers_inferred:
        w.line("call.speakers_inferred")
    # Most severe first; the analysis lists gaps in the catalogue's order.
    gaps = sorted(a.gaps, key=lambda g: SEVERITY_ORDER.get(g.severity, len(SEVERITY_ORDER)))
    if gaps:
        w.line("call.gaps", count=w.count(len(gaps)))
    else:
        w.line("call.no_gaps")
    for gap in gaps[:TEXT_ITEMS]:
        label, severity = gap_label(gap.type, w.language), w.label("severity", gap.severity)
        # Gap summaries are written in English by the detectors: another language gets the
        # gap's goal from the catalogue instead.
        if w.language == "en" and gap.summary:
            text = w.text("call.gap", gap=label, severity=severity, summary=w.free(gap.summary))
        else:
            text = w.text("call.gap", gap=label, severity=severity, summary=t(f"coaching.goal.{gap.type}", w.language))
        quoted = next((e for e in gap.evidence if e.quote), None)
        if quoted is not None:
            text = w.then(text, "call.evidence", at=w.fig(_clock(quoted.start)), quote=w.free(_quote(quoted.quote)))
        w.item(text)
    if len(gaps) > TEXT_ITEMS:
        w.table(
            "gaps",
            ("gap", "severity", "confidence", "time", "quote"),
            (
                (
                    gap_label(g.type, w.language),
                    w.label("severity", g.severity),
                    f"{g.confidence:.2f}",
                    " / ".join(_clock(e.start) for e in g.evidence if e.quote),
                    " / ".join(_quote(e.quote) for e in g.evidence if e.quote),
                )
                for g in gaps
            ),
        )
    shown = {g.type: rank for rank, g in enumerate(gaps)}
    coaching = sorted(
        (item for item in c.coaching if item.coaching.talk_track), key=lambda item: shown.get(item.type, len(shown))
    )
    for item in coaching[:2]:
        text = w.text(
            "call.coaching", gap=gap_label(item.type, w.language), talk_track=w.free(item.coaching.talk_track)
        )
        if item.coaching.lessons:
            lessons = _JOIN.join(w.free(lesson.title) for lesson in item.coaching.lessons)
            text = w.then(text, "call.lessons", lessons=lessons)
        w.item(text)


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"
