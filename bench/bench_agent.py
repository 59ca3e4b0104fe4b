"""Agent latency with the packaged local LLM: time to the first answer token and to the whole
answer, for typical questions, through the same agent the chat platforms use.

    .venv/bin/python bench/bench_agent.py [--data-dir DIR] [--model qwen2.5-coder-1.5b]

Builds the demo knowledge base in DIR on first use (no calls), loads the model once, then
warms up as the chat does, and asks each question once. The CPU is shared with whatever
else runs: llama.cpp slows down sharply when its threads have to wait for a core. Targets on 2 cores: first
token < 5 s, whole answer < 20 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import App
from bot.core.identity import Identity, resolve_user
from bot.core.ports import AnswerRequest
from bot.core.settings import Settings
from bot.demo.build import ensure_demo
from chains.agent import CopilotAgent
from integrations.llm import LocalLLM

QUESTIONS = [
    ("jason.reed", "en", "How should I handle a customer who says we are too expensive?"),
    ("li.wei", "zh", "九章数据的弱点是什么？"),
    ("emily.carter", "en", "Show me my open pipeline"),
    ("li.wei", "zh", "我们的产品符合等保要求吗？"),
    ("jason.reed", "en", "What are Northwind Analytics' weaknesses?"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path(".bench/agent"))
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    args = parser.parse_args()

    settings = Settings(_env_file=None, data_dir=args.data_dir, llm_provider="local", llm_local_model=args.model)
    app = App(settings)
    started = time.perf_counter()
    ensure_demo(app, today=date(2026, 11, 23), with_calls=False)
    print(f"demo knowledge base ready in {time.perf_counter() - started:.1f} s")
    loaded = LocalLLM(settings).probe()  # load once (per process), outside the timings
    print(f"model {args.model} loaded in {loaded:.1f} s (n_threads={settings.cpu_threads})")
    agent = app.answerer  # the agent the chat platforms use: local model, quick router
    assert isinstance(agent, CopilotAgent) and isinstance(agent.local, LocalLLM)
    local = agent.local
    routing: list[float] = []
    choose = local.choose

    def timed_choose(*args: Any, **kwargs: Any) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            return choose(*args, **kwargs)
        finally:
            routing.append(time.perf_counter() - started)

    local.choose = timed_choose  # type: ignore[method-assign]
    agent.warm_up()  # the chat does this while the user types its first question
    print(f"warm-up (router prefix, both answer prefixes, quick router) done, {routing[-1]:.1f} s for the router")

    firsts, wholes = [], []
    for handle, language, text in QUESTIONS:
        with app.db.session() as session:
            identity = Identity.from_user(resolve_user(session, handle))
        first: list[float] = []
        count = [0]

        def on_token(_token: str, first: list[float] = first, count: list[int] = count) -> None:
            count[0] += 1
            if not first:
                first.append(time.perf_counter())

        routed_by_model = len(routing)
        started = time.perf_counter()
        reply = agent.answer(AnswerRequest(identity, text, language, []), on_token=on_token)
        whole = time.perf_counter() - started
        first_token = (first[0] - started) if first else whole
        firsts.append(first_token)
        wholes.append(whole)
        tool = reply.tool_calls[0]["name"] if reply.tool_calls else "-"
        choice = f"{routing[-1]:4.1f} s tool choice" if len(routing) > routed_by_model else "quick route    "
        print(
            f"{first_token:5.1f} s first token ({choice})  {whole:5.1f} s whole  {count[0]:3d} tokens  "
            f"tool={tool:<16} citations={len(reply.citations)}  {text}"
        )
    print(
        f"median: first token {statistics.median(firsts):.1f} s (target < 5 s), "
        f"whole answer {statistics.median(wholes):.1f} s (target < 20 s); "
        f"max: {max(firsts):.1f} s / {max(wholes):.1f} s"
    )
    app.close()


if __name__ == "__main__":
    main()
