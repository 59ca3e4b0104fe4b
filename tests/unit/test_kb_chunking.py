import itertools

from knowledge_base._chunking import chunk_sections, split_sentences
from knowledge_base._loaders import Section


def test_chinese_sentences_split_on_chinese_punctuation() -> None:
    text = "客户说价格太贵。我们先问：和什么比？再讲价值！最后确认预算；然后约下次会议"
    assert split_sentences(text) == [
        "客户说价格太贵。",
        "我们先问：和什么比？",
        "再讲价值！",
        "最后确认预算；",
        "然后约下次会议",
    ]


def test_english_sentences_and_list_items_split() -> None:
    text = "Probe first. Then reframe value!\n- Never discount\n- Anchor on ROI"
    assert split_sentences(text) == ["Probe first.", "Then reframe value!", "- Never discount", "- Anchor on ROI"]


def test_chunks_never_cross_headings_and_carry_their_heading() -> None:
    sections = [
        Section("Pricing", "List price is 48k. Discounts need approval."),
        Section("Security", "Data stays in China."),
    ]
    chunks = chunk_sections("Insight sheet", sections, size=500, overlap=50)
    assert [c.heading for c in chunks] == ["Pricing", "Security"]
    assert chunks[1].text == "Insight sheet\nSecurity\nData stays in China."


def test_long_sections_are_packed_with_sentence_overlap() -> None:
    sentences = [f"第{i}句话讲的是销售流程中的一个要点。" for i in range(40)]
    chunks = chunk_sections("指南", [Section("要点", "".join(sentences))], size=120, overlap=40)
    assert len(chunks) > 5
    bodies = [c.text.split("\n", 2)[2] for c in chunks]
    assert all(len(b) <= 125 for b in bodies)
    # Each chunk starts with the last sentence(s) of the previous one, up to the overlap.
    for previous, current in itertools.pairwise(bodies):
        first = current.split(" ")[0]
        assert first in previous.split(" ")[-2:]
        carried = previous[previous.index(first) :]
        assert len(carried) <= 40 + 1
    # Nothing is lost.
    assert all(any(s in b for b in bodies) for s in sentences)


def test_csv_rows_stay_whole_entries() -> None:
    rows = [
        Section("2026-09-01 email: Budget", "Budget is $120,000."),
        Section("2026-09-09 meeting_note: Next step", "Exec review."),
    ]
    chunks = chunk_sections("History", rows, size=800, overlap=100, keep_sections_whole=True)
    assert len(chunks) == 2 and "Budget is $120,000." in chunks[0].text
