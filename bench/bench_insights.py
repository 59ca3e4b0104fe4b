"""Insights latency on the demo org: cold and warm forecast, what-if per territory (forecast +
top-3 recomputed), territory summary with its PNG, resonance, and the eval backtest.

Run: .venv/bin/python bench/bench_insights.py   (builds a throwaway demo org in a temp dir)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from functools import partial
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import App
from bot.core.identity import Identity, resolve_user
from bot.core.settings import Settings
from bot.demo.org import build_org

DAY = date(2026, 11, 23)
P = ParamSpec("P")
R = TypeVar("R")


def timed(fn: Callable[[], R], repeat: int = 1) -> tuple[float, R]:
    samples: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def in_session(app: App, function: Callable[Concatenate[Session, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
    """One unit of work per call, as the CLI and the agent do."""
    with app.db.session() as session:
        return function(session, *args, **kwargs)


@contextmanager
def demo_app() -> Iterator[App]:
    with tempfile.TemporaryDirectory() as folder:
        app = App(Settings(_env_file=None, data_dir=Path(folder), llm_provider="none"))
        try:
            with app.db.session() as session:
                build_org(session, app.settings.demo_seed, DAY)
            yield app
        finally:
            app.close()


def main() -> None:
    with demo_app() as app:
        with app.db.session() as session:
            admin = Identity.from_user(resolve_user(session, "ops.admin"))
            manager = Identity.from_user(resolve_user(session, "wang.fang"))
        t0 = time.perf_counter()
        from insights.evaluation import backtest
        from insights.forecast import forecast
        from insights.resonance import resonance
        from insights.summary import render_summary_chart, territory_summary

        print(f"import insights (statsforecast, numba)   {time.perf_counter() - t0:8.3f} s")
        cold, _ = timed(lambda: in_session(app, forecast, admin, "territory:East China", today=DAY))
        print(f"forecast, cold (fit + AutoETS)           {cold:8.3f} s")
        warm, _ = timed(lambda: in_session(app, forecast, admin, "territory:East China", today=DAY), 10)
        print(f"forecast, warm (learned model cached)    {warm:8.3f} s")
        scenario = {"win_rate_shift": 0.05, "big_account_delay": 0.3}
        for territory in ("East China", "South China", "North America"):
            in_session(app, forecast, admin, f"territory:{territory}", today=DAY)
            what_if, result = timed(
                partial(in_session, app, forecast, admin, f"territory:{territory}", what_if=scenario, today=DAY), 10
            )
            point = f"point {result.point:,.0f} {result.currency}"
            print(f"what-if {territory:<14} (+top-3)         {what_if:8.3f} s   {point}")
        month, _ = timed(lambda: in_session(app, forecast, admin, "territory:North America", "2026-12", today=DAY))
        print(f"forecast, month period, cold             {month:8.3f} s")
        with tempfile.TemporaryDirectory() as out:
            # The chart is drawn after the session, as the CLI and the agent do.
            summary, _ = timed(
                lambda: render_summary_chart(
                    in_session(app, territory_summary, manager, None, today=DAY), Path(out) / "s.png"
                )
            )
            print(f"territory summary with PNG               {summary:8.3f} s")
            summary_json, _ = timed(lambda: in_session(app, territory_summary, manager, None, today=DAY), 3)
            print(f"territory summary, no PNG (warm)         {summary_json:8.3f} s")
        res, _ = timed(lambda: in_session(app, resonance, admin, "1", today=DAY), 10)
        print(f"resonance                                {res:8.3f} s")
        bt, report = timed(lambda: in_session(app, backtest, today=DAY))
        print(f"eval backtest ({report.points} forecasts)           {bt:8.3f} s")
        print(
            f"  copilot MAPE {report.copilot.mape} MASE {report.copilot.mase}; seasonal naive MAPE "
            f"{report.seasonal_naive.mape} MASE {report.seasonal_naive.mase}; AutoETS MAPE {report.auto_ets.mape} "
            f"MASE {report.auto_ets.mase}"
        )


if __name__ == "__main__":
    main()
