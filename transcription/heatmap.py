"""The manager's gap heat map: reps x gap types, counts and rates over a period.

Rows are the active reps the caller may look at (`access.team`) in the territory; counts are
taken over the analysed calls the caller may see (`access.calls`), so a rep who moved keeps
their old calls on the old territory's map.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from bot.core import access
from bot.core.errors import InvalidInput, PermissionDenied
from bot.core.identity import Identity
from bot.core.models import Call, CallStatus, GapFinding, Role, Territory, User
from bot.core.text import gap_label
from transcription.gaps import GAP_TYPES

__all__ = ["HEATMAP_VIEWERS", "GapHeatmap", "cjk_font", "gap_heatmap", "render_heatmap_png"]

HEATMAP_VIEWERS = frozenset({Role.MANAGER, Role.ADMIN, Role.REP})

DateLike = date | datetime | str | None


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
            {
                "rep": handle,
                "name": name,
                "calls": n,
                "gaps": dict(zip(self.gap_types, counts, strict=True)),
                "rates": dict(zip(self.gap_types, rates, strict=True)),
            }
            for handle, name, n, counts, rates in zip(
                self.reps, self.rep_names, self.calls, self.counts, self.rates, strict=True
            )
        ]
        return data


def _as_datetime(value: DateLike, *, end: bool = False) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError as exc:
            raise InvalidInput(f"'{value}' is not a date. Write dates as YYYY-MM-DD, e.g. 2026-11-23.") from exc
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time.max if end else time.min, tzinfo=UTC)


def gap_heatmap(
    session: Session,
    identity: Identity,
    territory: str | None = None,
    since: DateLike = None,
    until: DateLike = None,
) -> GapHeatmap:
    """Reps x gap types: how many analysed calls show each gap, and the share of calls.

    The territory defaults to the caller's own; an admin naming none sees every territory.
    """
    if identity.role not in HEATMAP_VIEWERS:
        raise PermissionDenied("Only managers (for their territory) and admins can see the gap heat map.")
    start, end = _as_datetime(since), _as_datetime(until, end=True)
    place: Territory | None = None
    if not (identity.role is Role.ADMIN and territory is None):
        place = access.find_territory(session, identity, territory)
    people = select(User).where(User.role == Role.REP, User.active.is_(True), access.team(identity).clause(User))
    if place is not None:
        people = people.where(User.territory_id == place.id)
    reps = session.scalars(people.order_by(User.handle)).all()

    window: list[ColumnElement[bool]] = [Call.status == CallStatus.DONE, access.calls(identity).clause(Call)]
    if start:
        window.append(Call.occurred_at >= start)
    if end:
        window.append(Call.occurred_at <= end)
    per_owner = select(Call.owner_id, func.count(Call.id)).where(*window).group_by(Call.owner_id)
    calls_per: dict[int, int] = dict(session.execute(per_owner).tuples().all())
    counts_per: dict[tuple[int, str], int] = {
        (owner, gap): n
        for owner, gap, n in session.execute(
            select(Call.owner_id, GapFinding.gap_type, func.count(func.distinct(Call.id)))
            .join(GapFinding, GapFinding.call_id == Call.id)
            .where(*window)
            .group_by(Call.owner_id, GapFinding.gap_type)
        ).tuples()
    }
    counts = [[counts_per.get((rep.id, gap), 0) for gap in GAP_TYPES] for rep in reps]
    calls = [calls_per.get(rep.id, 0) for rep in reps]
    rates = [[round(c / n, 3) if n else 0.0 for c in row] for row, n in zip(counts, calls, strict=True)]
    return GapHeatmap(
        territory=place.name if place else None,
        since=start.date().isoformat() if start else None,
        until=end.date().isoformat() if end else None,
        reps=[rep.handle for rep in reps],
        rep_names=[rep.name for rep in reps],
        gap_types=list(GAP_TYPES),
        calls=calls,
        counts=counts,
        rates=rates,
    )


CJK_FONT_HINTS = (
    "WenQuanYi",
    "Noto Sans CJK",
    "Noto Sans SC",
    "Source Han",
    "Droid Sans Fallback",
    "SimHei",
    "Microsoft YaHei",
)
CJK_FONT_FILES = ("wqy", "notosanscjk", "sourcehan", "droidsansfallback")


def cjk_font() -> str | None:
    """A font with Chinese glyphs for charts (fonts-wqy-microhei from `make system-deps`),
    registering it if matplotlib's font cache predates its installation; None without one."""
    from matplotlib import font_manager

    for entry in font_manager.fontManager.ttflist:
        if any(hint in entry.name for hint in CJK_FONT_HINTS):
            return str(entry.name)
    for path in font_manager.findSystemFonts():
        if any(key in path.lower() for key in CJK_FONT_FILES):
            try:
                font_manager.fontManager.addfont(path)
                return str(font_manager.FontProperties(fname=path).get_name())
            except (OSError, RuntimeError):
                continue
    return None


def render_heatmap_png(heatmap: GapHeatmap, path: Path) -> Path:
    """A PNG chart of gap rates; Chinese labels when a CJK font is installed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = cjk_font()
    labels = [f"{g}\n{gap_label(g, 'zh')}" if font else g for g in heatmap.gap_types]
    rows = [f"{name} ({n})" for name, n in zip(heatmap.rep_names, heatmap.calls, strict=True)]
    path.parent.mkdir(parents=True, exist_ok=True)
    fonts = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    with plt.rc_context({"font.sans-serif": fonts, "axes.unicode_minus": False}):
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
