"""The manager's gap heat map: reps x gap types, counts and rates over a period."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from transcription.gaps import GAP_TYPES

__all__ = ["GapHeatmap", "render_heatmap_png"]

logger = logging.getLogger(__name__)

GAP_LABELS_ZH = {
    "budget_unclarified": "预算未澄清",
    "decision_maker_unknown": "决策人未识别",
    "decision_process_unclear": "决策流程不明",
    "pain_unexplored": "痛点未深挖",
    "value_unquantified": "价值未量化",
    "price_objection_mishandled": "价格异议不当",
    "competitor_unaddressed": "竞品未回应",
    "strategy_unlinked": "未关联战略",
    "concern_unresolved": "顾虑未解决",
    "next_step_missing": "缺少下一步",
    "monologue_excess": "讲多听少",
    "discovery_questions_lacking": "提问不足",
}


@dataclass(frozen=True)
class GapHeatmap:
    territory: str | None
    since: str | None
    until: str | None
    reps: list[str]  # handles, row order
    rep_names: list[str]
    gap_types: list[str]
    calls: list[int]  # analysed calls per rep
    counts: list[list[int]]  # [rep][gap]
    rates: list[list[float]]  # counts / calls

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows"] = [
            {"rep": handle, "name": name, "calls": n, "gaps": dict(zip(self.gap_types, counts)), "rates": dict(zip(self.gap_types, rates))}
            for handle, name, n, counts, rates in zip(self.reps, self.rep_names, self.calls, self.counts, self.rates)
        ]
        return data


def _cjk_font() -> str | None:
    from matplotlib import font_manager

    for name in ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "SimHei", "Microsoft YaHei"):
        try:
            font_manager.findfont(name, fallback_to_default=False)
            return name
        except Exception:
            continue
    return None


def render_heatmap_png(heatmap: GapHeatmap, path: Path) -> Path:
    """A PNG chart of gap rates; Chinese labels when a CJK font is installed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = _cjk_font()
    labels = [f"{g}\n{GAP_LABELS_ZH[g]}" if font else g for g in heatmap.gap_types]
    rows = [f"{name} ({n})" for name, n in zip(heatmap.rep_names, heatmap.calls)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with plt.rc_context({"font.sans-serif": [font, "DejaVu Sans"] if font else ["DejaVu Sans"], "axes.unicode_minus": False}):
        fig, ax = plt.subplots(figsize=(max(8, len(labels) * 0.9), max(2.5, 0.6 * len(rows) + 2)))
        data = heatmap.rates or [[0.0] * len(labels)]
        image = ax.imshow(data, cmap="Reds", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(labels)), labels=labels, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(rows) or 1), labels=rows or ["(no reps)"], fontsize=8)
        for i, row in enumerate(heatmap.counts):
            for j, count in enumerate(row):
                if count:
                    ax.text(j, i, str(count), ha="center", va="center", fontsize=7)
        title = f"Gap heat map — {heatmap.territory or 'all territories'}"
        if heatmap.since or heatmap.until:
            title += f" ({heatmap.since or '…'} to {heatmap.until or '…'})"
        ax.set_title(title, fontsize=10)
        fig.colorbar(image, ax=ax, label="share of calls with the gap")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return path


ALL_GAPS = list(GAP_TYPES)
