"""Language of a text: the copilot answers in the language it was asked in."""

from __future__ import annotations

import re

__all__ = ["detect_language", "t"]

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def detect_language(text: str, default: str = "en") -> str:
    """'zh' when Chinese carries the text, else 'en'. Mixed text with product names in
    Latin letters ("Lumina Insight 的价格是多少") counts as Chinese."""
    cjk = len(_CJK.findall(text))
    latin_words = len(_LATIN_WORD.findall(text))
    if cjk == 0 and latin_words == 0:
        return default
    # A Chinese word is about two characters; a term like 等保三级 inside an English
    # sentence must not flip it to Chinese.
    return "zh" if cjk >= 2 and cjk / 2 >= 0.8 * latin_words else "en"


_MESSAGES: dict[str, dict[str, str]] = {
    "unknown_user": {
        "en": "I don't know you yet, so I can only share public knowledge (playbooks, product sheets). "
        "Ask your sales-ops admin to add you to the copilot with your work email.",
        "zh": "我还不认识您，因此只能提供公开知识（销售手册、产品资料）。请联系销售运营管理员，用您的工作邮箱把您加入 Copilot。",
    },
    "image_unsupported": {
        "en": "Images are not supported yet. Send a call recording (audio) or a document (md, txt, pdf, docx, html, csv).",
        "zh": "暂不支持图片。请发送通话录音（音频）或文档（md、txt、pdf、docx、html、csv）。",
    },
    "file_unsupported": {
        "en": "I can't use '{name}': send a call recording (wav, mp3, m4a, flac, ogg, webm, amr) or a document "
        "(md, txt, pdf, docx, html, csv).",
        "zh": "无法处理“{name}”：请发送通话录音（wav、mp3、m4a、flac、ogg、webm、amr）或文档（md、txt、pdf、docx、html、csv）。",
    },
    "kb_refused": {
        "en": "Only trainers and admins can add documents to the knowledge base. Send '{name}' to your trainer.",
        "zh": "只有培训师和管理员可以向知识库添加文档。请把“{name}”发给您的培训师。",
    },
    "call_accepted": {
        "en": "Got your call recording '{name}'. I'm transcribing and analysing it (job #{job}); "
        "I'll post the gaps and coaching here when it's done.",
        "zh": "已收到通话录音“{name}”，正在转写和分析（任务 #{job}），完成后会在这里发送问题点和辅导建议。",
    },
    "kb_added": {
        "en": "Added '{title}' to the knowledge base ({chunks} passages, version {version}).",
        "zh": "已将“{title}”加入知识库（{chunks} 个段落，版本 {version}）。",
    },
    "kb_unchanged": {
        "en": "'{title}' is already in the knowledge base, unchanged.",
        "zh": "“{title}”已在知识库中，内容未变。",
    },
    "internal_error": {
        "en": "Sorry, something went wrong on my side. Your message is saved; please try again in a minute.",
        "zh": "抱歉，我这边出了点问题。您的消息已保存，请稍后再试。",
    },
}


def t(key: str, language: str, **values: object) -> str:
    """A user-facing message in the asker's language."""
    texts = _MESSAGES[key]
    return texts.get(language, texts["en"]).format(**values)
