"""Slack: a Bolt app that answers in threads, takes recordings and documents, acks at once."""

from integrations.slack._adapter import EVENTS_PATH, JOB_KIND, SlackAdapter
from integrations.slack._render import reply_messages, to_mrkdwn

__all__ = ["EVENTS_PATH", "JOB_KIND", "SlackAdapter", "reply_messages", "to_mrkdwn"]
