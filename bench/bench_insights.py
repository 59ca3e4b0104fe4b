"""Insights latency on the demo org: cold and warm forecast, what-if per territory (forecast +
top-3 recomputed), territory summary with its PNG, resonance, and the eval backtest.

Run: .venv/bin/python bench/bench_insights.py   (builds a throwaway demo org in a temp dir)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import App  # noqa: E402
from bot.demo.org import build_org  # noqa: E402
from bot.core.identity import Identity, resolve_user  # noqa: E402
from bot.core.settings import Settings  # noqa: E402

DAY = date(2026, 11, 23)


def timed(fn, repeat: int = 1) -> tuple[float, object]:  # noqa: ANN001
    samples, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = App(Settings(_env_file=None, data_dir=Path(folder), llm_provider="none"))
        with app.db.session() as session:
            build_org(session, app.settings.demo_seed, DAY)
        with app.db.session() as session:
            admin = Identity.from_user(resolve_user(session, "ops.admin"))
            manager = Identity.from_user(resolve_user(session, "wang.fang"))
        t0 = time.perf_counter()
        from insights.evaluation import backtest
        from insights.forecast import forecast
        from insights.resonance import resonance
        from insights.summary import territory_summary

        print(f"import insights (statsforecast, numba)   {time.perf_counter() - t0:8.3f} s")
        cold, _ = timed(lambda: forecast(app, admin, "territory:East China", today=DAY))
        print(f"forecast, cold (fit + AutoETS)           {cold:8.3f} s")
        warm, _ = timed(lambda: forecast(app, admin, "territory:East China", today=DAY), 10)
        print(f"forecast, warm (learned model cached)    {warm:8.3f} s")
        for territory in ("East China", "South China", "North America"):
            forecast(app, admin, f"territory:{territory}", today=DAY)
            what_if, result = timed(
                lambda t=territory: forecast(app, admin, f"territory:{t}", what_if={"win_rate_shift": 0.05, "big_account_delay": 0.3}, today=DAY),
                10,
            )
            print(f"what-if {territory:<14} (+top-3)         {what_if:8.3f} s   point {result.point:,.0f} {result.currency}")
        month, _ = timed(lambda: forecast(app, admin, "territory:North America", "2026-12", today=DAY))
        print(f"forecast, month period, cold             {month:8.3f} s")
        with tempfile.TemporaryDirectory() as out:
            summary, _ = timed(lambda: territory_summary(app, manager, None, png=Path(out) / "s.png", today=DAY))
            print(f"territory summary with PNG               {summary:8.3f} s")
            summary_json, _ = timed(lambda: territory_summary(app, manager, None, today=DAY), 3)
            print(f"territory summary, no PNG (warm)         {summary_json:8.3f} s")
        res, _ = timed(lambda: resonance(app, admin, "1", today=DAY), 10)
        print(f"resonance                                {res:8.3f} s")
        bt, report = timed(lambda: backtest(app, today=DAY))
        print(f"eval backtest ({report.points} forecasts)           {bt:8.3f} s")
        print(f"  copilot MAPE {report.copilot.mape} MASE {report.copilot.mase}; seasonal naive MAPE "
              f"{report.seasonal_naive.mape} MASE {report.seasonal_naive.mase}; AutoETS MAPE {report.auto_ets.mape} MASE {report.auto_ets.mase}")
        app.close()


if __name__ == "__main__":
    main()
