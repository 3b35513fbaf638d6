"""The request shapes Slack and PagerDuty document, as JSON Schemas, and stand-in answers.

- PagerDuty Events API v2 (developer.pagerduty.com, "Send an Alert Event" /
  "Events API v2 Overview"): ``POST /v2/enqueue``; ``routing_key`` (32 chars),
  ``event_action`` trigger | acknowledge | resolve, ``dedup_key`` (≤255, required
  to resolve), ``payload`` required to trigger with ``summary`` (≤1024),
  ``source``, ``severity`` critical | error | warning | info and optional
  ``timestamp``, ``component``, ``group``, ``class``, ``custom_details``;
  optional ``links`` [{href, text}]. Answers 202 ``{"status": "success",
  "message": "Event processed", "dedup_key": ...}`` or 400 ``invalid event``.
- Slack incoming webhooks (api.slack.com/messaging/webhooks, Block Kit
  reference): a JSON body with ``text`` and/or ``blocks`` (≤50); header blocks
  take ``plain_text`` ≤150 chars; section blocks ``text`` (≤3000) and/or
  ``fields`` (≤10, each ≤2000); context blocks ``elements`` (≤10). Answers 200
  ``ok`` or 400 ``invalid_blocks`` / ``no_text``.
"""

from __future__ import annotations

from typing import Any

import jsonschema

_TEXT = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {
        "type": {"enum": ["plain_text", "mrkdwn"]},
        "text": {"type": "string", "minLength": 1, "maxLength": 3000},
        "emoji": {"type": "boolean"},
        "verbatim": {"type": "boolean"},
    },
    "additionalProperties": False,
}

SLACK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "anyOf": [{"required": ["text"]}, {"required": ["blocks"]}],
    "properties": {
        "text": {"type": "string", "minLength": 1},
        "blocks": {
            "type": "array",
            "maxItems": 50,
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["type", "text"],
                        "properties": {
                            "type": {"const": "header"},
                            "text": {
                                "type": "object",
                                "required": ["type", "text"],
                                "properties": {
                                    "type": {"const": "plain_text"},
                                    "text": {"type": "string", "minLength": 1, "maxLength": 150},
                                },
                            },
                            "block_id": {"type": "string"},
                        },
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "required": ["type"],
                        "anyOf": [{"required": ["text"]}, {"required": ["fields"]}],
                        "properties": {
                            "type": {"const": "section"},
                            "text": _TEXT,
                            "fields": {
                                "type": "array",
                                "maxItems": 10,
                                "items": {
                                    **_TEXT,
                                    "properties": {
                                        **_TEXT["properties"],
                                        "text": {"type": "string", "maxLength": 2000},
                                    },
                                },
                            },
                            "block_id": {"type": "string"},
                        },
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "required": ["type", "elements"],
                        "properties": {
                            "type": {"const": "context"},
                            "elements": {"type": "array", "maxItems": 10, "items": _TEXT},
                            "block_id": {"type": "string"},
                        },
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "required": ["type"],
                        "properties": {"type": {"const": "divider"}},
                    },
                ]
            },
        },
    },
}

PAGERDUTY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["routing_key", "event_action"],
    "properties": {
        "routing_key": {"type": "string", "minLength": 32, "maxLength": 32},
        "event_action": {"enum": ["trigger", "acknowledge", "resolve"]},
        "dedup_key": {"type": "string", "minLength": 1, "maxLength": 255},
        "payload": {
            "type": "object",
            "required": ["summary", "source", "severity"],
            "properties": {
                "summary": {"type": "string", "minLength": 1, "maxLength": 1024},
                "source": {"type": "string", "minLength": 1},
                "severity": {"enum": ["critical", "error", "warning", "info"]},
                "timestamp": {
                    "type": "string",
                    "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$",
                },
                "component": {"type": "string"},
                "group": {"type": "string"},
                "class": {"type": "string"},
                "custom_details": {"type": "object"},
            },
            "additionalProperties": False,
        },
        "links": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["href"],
                "properties": {"href": {"type": "string"}, "text": {"type": "string"}},
            },
        },
        "images": {"type": "array"},
        "client": {"type": "string"},
        "client_url": {"type": "string"},
    },
    "allOf": [
        {
            "if": {"properties": {"event_action": {"const": "trigger"}}},
            "then": {"required": ["payload"]},
        },
        {
            "if": {"properties": {"event_action": {"enum": ["acknowledge", "resolve"]}}},
            "then": {"required": ["dedup_key"]},
        },
    ],
    "additionalProperties": False,
}


def slack_answer(path: str, body: Any) -> tuple[int, Any]:
    """What Slack answers to an incoming-webhook post."""
    try:
        jsonschema.validate(body, SLACK_SCHEMA)
    except jsonschema.ValidationError as exc:
        return 400, {"error": "invalid_blocks", "detail": exc.message}
    return 200, "ok"


def pagerduty_answer(path: str, body: Any) -> tuple[int, Any]:
    """What the PagerDuty Events API v2 answers to ``POST /v2/enqueue``."""
    if path != "/v2/enqueue":
        return 404, {"status": "not found"}
    try:
        jsonschema.validate(body, PAGERDUTY_SCHEMA)
    except jsonschema.ValidationError as exc:
        return 400, {
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": [exc.message],
        }
    answer = {"status": "success", "message": "Event processed"}
    return 202, {**answer, "dedup_key": body.get("dedup_key")}
