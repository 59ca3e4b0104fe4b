"""Tokens for BM25: jieba words for Chinese, lower-cased light-stemmed words for English."""

from __future__ import annotations

import logging
import re

import jieba

__all__ = ["tokenize"]

jieba.setLogLevel(logging.WARNING)

_TOKEN = re.compile(r"[\u3400-\u9fff]+|[A-Za-z][A-Za-z0-9'\-]*|\d+(?:[.,]\d+)*%?")
_CJK = re.compile(r"[\u3400-\u9fff]")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOP = _words(
    "a an and are as at be but by can do does for from has have how i if in is it its of on or our "
    "that the their them they this to was we what when where which who why will with you your"
) | _words("的 了 是 在 和 与 及 吗 呢 吧 啊 我 我们 你 你们 他们 这 那 有 也 就 都 要 会 对 把 被 请 怎么 什么 如何")


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    for piece in _TOKEN.findall(text):
        if _CJK.match(piece):
            tokens.extend(w for w in jieba.lcut_for_search(piece) if w not in _STOP)
        else:
            word = piece.lower().strip("'-")
            if word and word not in _STOP:
                tokens.append(_stem(word))
    return tokens
