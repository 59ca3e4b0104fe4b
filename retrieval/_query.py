"""What a question names besides its topic, and which documents it therefore points at.

Quarterly filings, reports and decks of several companies share nearly all their vocabulary, so
neither dense nor keyword ranking tells "Apple, Q2 2023" from "Apple, Q3 2023" or from another
company's same quarter, and the answer then quotes the wrong period's figure. What tells them
apart is what a document says about itself: its title, its file name and its opening passages name
the company and the period. A question is read for the same two things, in English and Chinese:

- periods: "Q1 2023", "2023 Q1", "first quarter of 2023", "fiscal 2023", "FY23", "2023年第一季度",
  and "the most recent / latest / last quarter" (the latest period the matching documents hold);
- names: capitalised words and tickers in English, proper nouns in Chinese, any Latin word in a
  Chinese question. No list of companies: a word is a name for ranking only when some, but not
  all, of the documents name it too.

`document_prior` turns the two into a score per document that the search adds to its fused one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import PurePath

from retrieval._text import _STOP as STOPWORDS

__all__ = ["DocumentProfile", "Period", "Question", "analyse", "document_prior"]


@dataclass(frozen=True, order=True)
class Period:
    """A year, a quarter of a year, or (for "Q3" alone) a quarter of any year."""

    year: int | None
    quarter: int | None = None  # 1-4; None: the whole year

    def overlaps(self, other: Period) -> bool:
        """True when one may be the other: "fiscal 2023" holds "Q2 2023", "Q3" holds "Q3 2022"."""
        return (self.year is None or other.year is None or self.year == other.year) and (
            self.quarter is None or other.quarter is None or self.quarter == other.quarter
        )

    @property
    def end(self) -> tuple[int, int] | None:
        """When the period ends, for "the latest" (a year ends with its fourth quarter)."""
        return None if self.year is None else (self.year, self.quarter or 4)


# --- periods -------------------------------------------------------------------------------------
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}
_ZH_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_QUARTER = re.compile(
    r"(?<![A-Za-z])Q(?P<q>[1-4])(?!\d)"  # Q1, 2023Q1, Q3'23
    r"|(?<![\w])(?P<qn>[1-4])Q(?![A-Za-z])"  # 1Q23, 1Q 2023
    r"|\b(?P<ord>first|second|third|fourth|1st|2nd|3rd|4th)\s+(?:fiscal\s+|calendar\s+)?quarter\b"
    r"|第?(?P<zq>[一二三四1-4])(?:财季|季度)",  # 第一季度, 三季度
    re.IGNORECASE,
)
_YEAR = re.compile(
    r"\b(?:FY|fiscal\s+(?:year\s+)?)\s?'?(?P<fy>(?:19|20)?\d{2})\b"  # FY23, FY 2023, fiscal year 2023
    r"|(?P<zy>(?:19|20)\d{2})\s*(?:财年|财政年度|年度|年)"  # 2023年, 2023财年
    r"|(?<=[Qq][1-4])'(?P<ay>\d{2})\b|(?<=[1-4][Qq])'?(?P<qy>\d{2})\b"  # Q3'23, 1Q24
    r"|(?<![\d.,$/\-])(?P<y>199\d|20\d{2})(?![\d%/\-]|\.\d)",  # 2023, not a date (10/24/2023) or a code
    re.IGNORECASE,
)
# What may stand between a quarter and its year after it ("Q1 2023", "Q2, 2023", "first quarter
# of 2023") or before it ("2023 Q1", "2023年的第一季度").
_YEAR_AFTER = re.compile(r"\s*,?\s*(?:of\s+)?(?:the\s+)?", re.IGNORECASE)
_YEAR_BEFORE = re.compile(r"\s*的?\s*")
# Quarters listed with one year share it: "Q1 and Q2 2023", "2023 Q1 and Q2".
_QUARTER_LIST_GAP = re.compile(r"\s*(?:,|and|or|to|&|-|–|、|和|与|至|到)\s*", re.IGNORECASE)
_LATEST = re.compile(
    r"\b(?:most\s+recent|latest|newest)\b|\b(?:last|this|current)\s+(?:fiscal\s+)?quarter\b"
    r"|最近|最新|上一?个?季度|本季度|当季",
    re.IGNORECASE,
)
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
# How a report states its period on its first page: "for the quarterly period ended July 1, 2023",
# "截至2023年9月30日止三个月".
_PERIOD_ENDED = re.compile(
    r"\b(?P<span>quarter(?:ly\s+period)?|three\s+months|period|fiscal\s+year|year)\s+ended\s+"
    r"(?P<month>[A-Za-z]{3,9})\.?\s+(?P<day>\d{1,2}),?\s+(?P<year>\d{4})"
    r"|截至(?P<zyear>\d{4})年(?P<zmonth>\d{1,2})月(?P<zday>\d{1,2})日止?的?(?P<zspan>三个月|季度|年度|财年|年)",
    re.IGNORECASE,
)


def _year(match: re.Match[str]) -> int:
    text = next(value for value in match.group("fy", "zy", "ay", "qy", "y") if value)
    return int(text) if len(text) == 4 else 2000 + int(text)


def _quarter(match: re.Match[str]) -> int:
    if match.group("q") or match.group("qn"):
        return int(match.group("q") or match.group("qn"))
    if match.group("ord"):
        return _ORDINALS[match.group("ord").lower()]
    return _ZH_DIGITS[match.group("zq")]


def _gap(quarter: re.Match[str], year: re.Match[str], text: str) -> int | None:
    """How far `year` is from `quarter` when it is that quarter's year (next to it, with at most
    "of", "," or "的" between); None when it is not."""
    if year.start() >= quarter.end():
        between = text[quarter.end() : year.start()]
        return len(between) if _YEAR_AFTER.fullmatch(between) else None
    if year.end() <= quarter.start():
        between = text[year.end() : quarter.start()]
        return len(between) if _YEAR_BEFORE.fullmatch(between) else None
    return None


def _periods_at(text: str) -> list[tuple[int, Period]]:
    """The periods `text` names with where each starts: quarters paired with the nearest year
    next to them (or sharing the year of a quarter listed with them), years named alone,
    quarters named without a year."""
    quarters = list(_QUARTER.finditer(text))
    years = list(_YEAR.finditer(text))
    paired: set[int] = set()
    year_of: list[int | None] = []
    for quarter in quarters:
        gaps = [(gap, n) for n, year in enumerate(years) if (gap := _gap(quarter, year, text)) is not None]
        nearest = min(gaps)[1] if gaps else None
        if nearest is not None:
            paired.add(nearest)
        year_of.append(None if nearest is None else _year(years[nearest]))
    # "Q1 and Q2 2023", "2023 Q1 and Q2": a quarter without a year shares that of a quarter
    # listed next to it (passed along the list until nothing changes).
    neighbours = [(i, j) for i in range(len(quarters)) for j in (i - 1, i + 1) if 0 <= j < len(quarters)]
    changed = True
    while changed:
        changed = False
        for index, neighbour in neighbours:
            first, second = sorted((index, neighbour))
            listed = _QUARTER_LIST_GAP.fullmatch(text[quarters[first].end() : quarters[second].start()])
            if year_of[index] is None and year_of[neighbour] is not None and listed:
                year_of[index] = year_of[neighbour]
                changed = True
    found = [(q.start(), Period(year_of[i], _quarter(q))) for i, q in enumerate(quarters)]
    found += [(y.start(), Period(_year(y))) for n, y in enumerate(years) if n not in paired]
    return sorted(found, key=lambda pair: pair[0])


def periods_in(text: str) -> list[Period]:
    """The periods `text` names, each once, in the order it names them."""
    return list(dict.fromkeys(period for _, period in _periods_at(text)))


def _quarter_ending(day: date) -> Period:
    # Quarters end on or near a month end (52/53-week years end a few days either side), so the
    # quarter is that of the date half a month earlier: July 1 -> Q2, June 25 -> Q2, Dec 31 -> Q4.
    shifted = day - timedelta(days=15)
    return Period(shifted.year, (shifted.month - 1) // 3 + 1)


def _stated_periods(text: str) -> list[tuple[int, Period]]:
    """Periods stated by their end date: "for the quarterly period ended July 1, 2023"."""
    found: list[tuple[int, Period]] = []
    for match in _PERIOD_ENDED.finditer(text):
        if match.group("zyear"):
            month: int | None = int(match.group("zmonth"))
            year, day, span = int(match.group("zyear")), int(match.group("zday")), match.group("zspan")
        else:
            month = _MONTHS.get(match.group("month").lower())
            year, day, span = int(match.group("year")), int(match.group("day")), match.group("span").lower()
        if month is None or not 1 <= month <= 12 or not 1 <= day <= 31:
            continue
        try:
            ended = date(year, month, day)
        except ValueError:
            continue
        whole_year = span in ("fiscal year", "year", "年度", "财年", "年")
        found.append((match.start(), Period(ended.year) if whole_year else _quarter_ending(ended)))
    return found


def _opening_period(opening: str) -> Period | None:
    """The first period an opening (a cover page, a heading) states with its year."""
    stated = _stated_periods(opening)
    stated += [(at, period) for at, period in _periods_at(opening) if period.year is not None and period.quarter]
    return min(stated, key=lambda pair: pair[0])[1] if stated else None


# --- names ---------------------------------------------------------------------------------------
_LATIN = re.compile(r"(?<![\w\-])[A-Za-z][A-Za-z0-9&'’.\-]*")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_SENTENCE_END = re.compile(r"(?:^|[.!?;:。！？；：\"“(（])\s*$")
# Words that name no one even when capitalised mid-sentence.
_NOT_NAMES = STOPWORDS | {"fy", "fiscal", "quarter", "quarterly", "year", "annual", "report", "filing", "form"}
# The legal forms a Chinese organisation's name ends with: what precedes one is the name.
_ZH_LEGAL_FORMS = "股份有限公司|有限责任公司|有限公司|公司|集团|控股"
# An organisation's name as a document's opening gives it: capitalised words before a legal form,
# or Chinese text before one (the name is somewhere in it; Chinese names match as substrings).
_ORGANISATION = re.compile(
    r"(?P<name>(?:[A-Z][\w&.\-]*,?\s+){1,4}?)(?i:Inc|Incorporated|Corp|Corporation|Company|Co|Ltd|Limited|LLC|LLP|"
    rf"PLC|GmbH|AG|S\.?A|N\.?V|Holdings|Group)\b|(?P<zname>[\u3400-\u9fff]{{2,12}})(?:{_ZH_LEGAL_FORMS})"
)
# jieba's part-of-speech tags for proper nouns: people, places, organisations, other proper nouns.
_ZH_PROPER = ("nr", "ns", "nt", "nz")
_ZH_ORG_SUFFIX = re.compile(f"(?:{_ZH_LEGAL_FORMS})$")  # "苹果公司" -> 苹果


def _word(token: str) -> str:
    token = token.rstrip(".'’-")
    for possessive in ("'s", "’s"):
        if token.lower().endswith(possessive):
            token = token[: -len(possessive)]
    return token


def _latin_words(text: str) -> list[tuple[int, str]]:
    return [(m.start(), word) for m in _LATIN.finditer(text) if (word := _word(m.group()))]


def _is_latin_name(word: str, sentence_start: bool, in_chinese: bool) -> bool:
    if len(word) < 2 or word.lower() in _NOT_NAMES or periods_in(word):
        return False
    if in_chinese:
        return True  # a Latin word in a Chinese question is a name, a product or an acronym
    if not any(c.isupper() for c in word):
        return False
    # A capital after a sentence end is grammar, not a name, unless the word is capitalised
    # beyond its first letter (NVIDIA, AWS, iPhone).
    return not sentence_start or any(c.isupper() for c in word[1:])


def _chinese_names(text: str) -> list[str]:
    from jieba import posseg  # the tagger loads its model on first use: Chinese questions only

    names: list[str] = []
    for run in _CJK_RUN.findall(text):
        previous = ""
        for pair in posseg.lcut(run):
            word, flag = pair.word, pair.flag
            stripped = _ZH_ORG_SUFFIX.sub("", word)
            if stripped != word:
                name = stripped if len(stripped) >= 2 else previous
            elif flag.startswith(_ZH_PROPER):
                name = word
            else:
                name = ""
            if len(name) >= 2 and name not in STOPWORDS and not periods_in(name):
                names.append(name)
            previous = word
    return names


def _names(text: str) -> list[str]:
    in_chinese = bool(_CJK_RUN.search(text))
    names: list[str] = []
    for start, word in _latin_words(text):
        if _is_latin_name(word, bool(_SENTENCE_END.search(text[:start])), in_chinese):
            names.append(word.lower())
    if in_chinese:
        names.extend(_chinese_names(text))
    return list(dict.fromkeys(names))


# --- questions -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    """What a question names: its periods, whether it asks for the latest one, its names."""

    periods: tuple[Period, ...] = ()
    latest: bool = False
    names: tuple[str, ...] = ()  # lower-cased Latin words and Chinese names

    @property
    def names_nothing(self) -> bool:
        return not (self.periods or self.latest or self.names)


def analyse(question: str) -> Question:
    return Question(tuple(periods_in(question)), bool(_LATEST.search(question)), tuple(_names(question)))


# --- documents -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DocumentProfile:
    """What a document says about itself: the periods and the words that could name it."""

    periods: frozenset[Period]
    words: frozenset[str]  # lower-cased Latin words of its title and file name, names of its opening
    chinese: str  # the Chinese text of the same (Chinese has no word boundaries to match on)

    @classmethod
    def of(cls, title: str, source: str, opening: str) -> DocumentProfile:
        """`source` is a path or "platform:file name"; `opening`: its first passages, joined."""
        stem = PurePath(source.rsplit(":", 1)[-1]).stem.replace("_", " ").replace("-", " ")
        label = f"{title}\n{stem}"
        # The title and file name state the period when they name one ("2023 Q3 AAPL.pdf"); else
        # the opening's first statement of it (a cover page, a heading).
        opening_period = _opening_period(opening)
        periods = _most_specific(periods_in(label)) or ([opening_period] if opening_period else [])
        # Names: every word of the title and file name; of the opening, only the organisations it
        # names ("Apple Inc.", "NVIDIA CORPORATION", "宁波甬驰汽车零部件有限公司"): a registrant,
        # an author or a customer says who the document is about, a country named in passing
        # does not.
        organisations = [m.group("name") or m.group("zname") for m in _ORGANISATION.finditer(opening)]
        words = {word for _, word in _latin_words(label)}
        words |= {word for name in organisations for _, word in _latin_words(name)}
        # "AMAZON.COM" and "Coca-Cola" also name "Amazon" and "Cola".
        words |= {part for word in words for part in re.split(r"[.\-]", word) if len(part) > 1}
        chinese = " ".join(_CJK_RUN.findall(" ".join([label, *organisations])))
        return cls(frozenset(periods), frozenset(word.lower() for word in words), chinese)

    def names(self, name: str) -> bool:
        return name in self.chinese if _CJK_RUN.match(name) else name in self.words


def _most_specific(periods: list[Period]) -> list[Period]:
    """Drop a period another one narrows: "Form 10-Q filed 2023, 2023 Q1" covers 2023 Q1 only."""

    def detail(period: Period) -> int:
        return (period.year is not None) + (period.quarter is not None)

    return [p for p in periods if not any(detail(q) > detail(p) and p.overlaps(q) for q in periods)]


def document_prior(
    question: Question, profiles: Mapping[int, DocumentProfile], *, name_weight: float, period_weight: float
) -> dict[int, float]:
    """A score per document (absent: 0) from the question's names and periods.

    A name counts only when some but not all of the documents hold it, by the share of documents
    that do not (4 of 20 hold "apple": 0.8; 19 of 20: 0.05); a document's score is `name_weight`
    times the sum over the names it holds, capped at 1. The documents holding
    any name are the question's scope (all documents when it names none). In scope, a document
    of a period the question names (or of the latest period in scope, when it asks for the
    latest) gains `period_weight`, and one that states another period loses it.
    """
    count = len(profiles)
    if question.names_nothing or count < 2:
        return {}
    named: dict[int, float] = {}
    for name in question.names:
        holders = [doc_id for doc_id, profile in profiles.items() if profile.names(name)]
        if 0 < len(holders) < count:
            weight = 1 - len(holders) / count
            for doc_id in holders:
                named[doc_id] = min(1.0, named.get(doc_id, 0.0) + weight)
    scope = set(named) or set(profiles)
    wanted = set(question.periods)
    if question.latest:
        ends = [end for doc_id in scope for period in profiles[doc_id].periods if (end := period.end) is not None]
        if ends:
            year, quarter = max(ends)
            wanted.add(Period(year, quarter))
    prior: dict[int, float] = {}
    for doc_id, profile in profiles.items():
        score = name_weight * named.get(doc_id, 0.0)
        if wanted and profile.periods and doc_id in scope:
            matches = any(mine.overlaps(asked) for mine in profile.periods for asked in wanted)
            score += period_weight if matches else -period_weight
        if score:
            prior[doc_id] = score
    return prior
