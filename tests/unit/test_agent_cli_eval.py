"""`copilot ask`, `copilot eval agent`, the labelled eval set, and provider set-up failures."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import bot.cli.common as cli_common
from bot.app import App
from bot.cli import app as cli
from bot.core.ports import AnswerRequest
from bot.core.settings import Settings
from chains.evaluation import EvalCase, evaluate_tool_choice, load_cases
from chains.tools import tool_catalogue
from tests.unit.agent_fakes import Doc, FakeRetriever, ScriptedLocalLLM, agent_over

DOCS = [
    Doc(
        1,
        "Price Objection Talk Tracks",
        "Price objection: probe the real objection, then reframe on value.",
        words=("price",),
    )
]


@pytest.fixture
def fake_retriever(org_app) -> FakeRetriever:
    return FakeRetriever(org_app.db.session, DOCS)


def _cli_root(org_app, monkeypatch, **services) -> App:
    """The CLI's composition root over the demo org's data, with the given services in it."""
    root = App(org_app.settings, **services)
    monkeypatch.setattr(cli_common, "_app", root)
    return root


@pytest.fixture
def cli_app(org_app, fake_retriever, monkeypatch):
    root = _cli_root(org_app, monkeypatch, retriever=fake_retriever)
    yield root
    root.close()


def test_the_labelled_set_is_bilingual_covers_every_tool_and_has_follow_ups() -> None:
    cases = load_cases()
    assert len(cases) >= 50
    languages = [c.language for c in cases]
    assert languages.count("en") >= 20 and languages.count("zh") >= 20
    assert {tool for c in cases for tool in c.expected} == set(tool_catalogue())
    assert any(c.history for c in cases)


def test_eval_scores_the_models_choices(org_app) -> None:
    cases = [
        EvalCase("How do I answer a price objection?", "en", ("search_knowledge",)),
        EvalCase("看看我的销售管道", "zh", ("my_pipeline",)),
        EvalCase("Coach me on my last call", "en", ("call_coaching",)),
        EvalCase("华东区的预测", "zh", ("forecast",)),
    ]
    llm = ScriptedLocalLLM(
        choices=[
            {"tool": "search_knowledge", "args": {"query": "price objection"}},
            {"tool": "my_pipeline", "args": {}},
            {"tool": "search_knowledge", "args": {"query": "call"}},  # wrong
            {"tool": "forecast", "args": {"target": "华东"}},
        ]
    )
    result = evaluate_tool_choice(agent_over(org_app, local=llm), cases)
    assert (result.model, result.n, result.tool_accuracy) == ("scripted-local", 4, 0.75)
    assert result.misses == [
        {
            "text": "Coach me on my last call",
            "expected": ["call_coaching"],
            "chosen": "search_knowledge",
            "args": {"query": "call"},
        }
    ]
    # Every tool of the catalogue was offered.
    offered = {option["properties"]["tool"]["const"] for option in llm.schemas[0]["anyOf"]}
    assert offered == set(tool_catalogue())


def test_eval_agent_command_prints_json(org_app, fake_retriever, monkeypatch) -> None:
    cases = load_cases()
    llm = ScriptedLocalLLM(choices=[{"tool": c.expected[0], "args": {}} for c in cases])
    _cli_root(org_app, monkeypatch, answerer=agent_over(org_app, fake_retriever, local=llm))
    result = CliRunner().invoke(cli, ["eval", "agent", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == {"model": "scripted-local", "tool_accuracy": 1.0, "n": len(cases)}


def test_eval_agent_without_a_model_says_what_to_set(cli_app) -> None:
    result = CliRunner().invoke(cli, ["eval", "agent"])
    assert result.exit_code == 1 and "COPILOT_LLM_PROVIDER" in result.output


def test_ask_json_answers_with_citations_and_tool_calls(cli_app) -> None:
    result = CliRunner().invoke(cli, ["ask", "How do I handle a price objection?", "--as", "jason.reed", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["citations"] == [{"doc_id": 1, "title": "Price Objection Talk Tracks", "source": "kb/1.md"}]
    assert data["tool_calls"][0]["name"] == "search_knowledge" and "[1]" in data["answer"]


def test_ask_as_an_unknown_user_is_a_clear_error(cli_app) -> None:
    result = CliRunner().invoke(cli, ["ask", "hello", "--as", "nobody.here"])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_a_misconfigured_endpoint_still_answers_from_retrieval_and_says_why(
    org_app, fake_retriever, identity_of
) -> None:
    settings = Settings(_env_file=None, data_dir=org_app.settings.data_dir, llm_provider="openai")
    root = App(settings, retriever=fake_retriever)
    try:
        reply = root.answerer.answer(AnswerRequest(identity_of("jason.reed"), "price objection", "en", []))
    finally:
        root.close()
    assert reply.kind == "answer" and "COPILOT_LLM_MODEL" in reply.text and reply.citations


def test_openai_compatible_settings_build_a_native_tool_calling_agent(org_app) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=org_app.settings.data_dir,
        llm_provider="openai",
        llm_model="deepseek-chat",
        openai_api_key="sk-test",
        openai_base_url="http://127.0.0.1:9/v1",
    )
    root = App(settings)
    try:
        agent = root.answerer
    finally:
        root.close()
    assert agent.chat_model is not None and agent.model_name == "deepseek-chat"
    assert str(agent.chat_model.openai_api_base).startswith("http://127.0.0.1:9")


def test_chat_warm_up_prepares_the_router_without_answering(org_app) -> None:
    llm = ScriptedLocalLLM(choices=[{"tool": "search_knowledge", "args": {"query": "hello"}}])
    agent_over(org_app, FakeRetriever(org_app.db.session, DOCS), local=llm).warm_up()
    assert len(llm.choice_prompts) == 1 and llm.answer_prompts == []
    assert llm.primed == ["answer-en", "answer-zh"]  # both answer languages' system prompts cached


def test_eval_with_a_native_tool_calling_model_reads_its_first_tool_call(org_app) -> None:
    from langchain_core.messages import AIMessage

    from tests.unit.agent_fakes import ScriptedChatModel, tool_call

    cases = [
        EvalCase("Show me my pipeline", "en", ("my_pipeline",)),
        EvalCase("Hello there", "en", ("search_knowledge",)),
    ]
    model = ScriptedChatModel(script=[tool_call("my_pipeline"), AIMessage(content="Hi!")])
    result = evaluate_tool_choice(agent_over(org_app, chat_model=model), cases)
    assert result.tool_accuracy == 0.5 and result.misses[0]["chosen"] == "none"
