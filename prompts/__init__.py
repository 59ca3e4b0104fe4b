"""Prompt templates and the user-facing text catalogues, as data files.

`en/` and `zh/` hold one catalogue each (`messages.yaml`) and the prompt templates of that
language (`*.md`); `shared/` holds model-facing prompts that serve both languages. The kernel
reads them (`bot.core.text`); nothing here is code.
"""
