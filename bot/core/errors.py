"""A small error hierarchy.

Every error the copilot raises on purpose carries a `user_message`: safe to show in chat
(no paths, no stack, no secrets), saying what went wrong and what to do. The edges (CLI,
Slack, WeCom) show that message; internals log the exception with `logger.exception`.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "CopilotError",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "ServiceUnavailable",
    "UnsupportedMedia",
]


class CopilotError(Exception):
    """Base of all expected errors. `user_message` is what the person in chat sees."""

    default_message = "Something went wrong. Please try again, or ask an admin to check the logs."

    def __init__(self, user_message: str | None = None, *, detail: str | None = None) -> None:
        self.user_message = user_message or self.default_message
        self.detail = detail  # for logs only
        super().__init__(self.user_message if detail is None else f"{self.user_message} ({detail})")


class InvalidInput(CopilotError):
    default_message = "That input could not be used."


class NotFound(CopilotError):
    default_message = "Nothing was found for that."


class PermissionDenied(CopilotError):
    default_message = "You don't have access to that. Ask your manager or an admin if you need it."


class UnsupportedMedia(InvalidInput):
    default_message = "That kind of file is not supported."


class ServiceUnavailable(CopilotError):
    default_message = "A service the copilot needs is not answering right now. Please try again shortly."


class ConfigurationError(CopilotError):
    default_message = "The copilot is not configured for that. Ask an admin to run `copilot doctor`."
