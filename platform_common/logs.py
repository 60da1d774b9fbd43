"""Structured logs: one JSON object per line, carrying the ids an on-call engineer searches by.

Every line names its process (`service`), and, where known, the dispute, the order and the
caller's request id. Those ids come from a context variable: the server binds them from each
request's own fields (`dispute_id`, `order_id`, `request_id`) before the handler runs, so a
handler's logs carry them without passing them around. Temporal's workflow and activity loggers
add the workflow id; a `dispute/<id>` or `order/<id>` workflow id yields the ids too.

DP_LOG_FORMAT=text gives the classic one-line format for a developer's terminal.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# The ids of the request being served (empty outside a request).
_IDS: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar("dp_log_ids", default=None)

# Request fields that name what the request is about, as they are spelled in every proto.
ID_FIELDS = ("dispute_id", "order_id", "request_id", "refund_id", "evidence_id")
# Ids are copied before the handler validates them: a hostile caller's megabyte id is clipped.
ID_CHARS = 128
# Workflow id prefixes (`dispute/<id>`) -> the id they carry.
_WORKFLOW_PREFIXES = {"dispute/": "dispute_id", "order/": "order_id", "refund/": "refund_id"}
_PLAIN = frozenset(vars(logging.makeLogRecord({})))


def bind(**ids: str) -> None:
    """Add ids to the current request's log context (empty values are ignored)."""
    found = {k: v for k, v in ids.items() if v}
    if found:
        _IDS.set({**current_ids(), **found})


def bind_message(message: Any) -> dict[str, str]:
    """Bind the id fields a request message has; returns them (the caller tags its span)."""
    descriptor = getattr(message, "DESCRIPTOR", None)
    if descriptor is None:
        return {}
    names = descriptor.fields_by_name
    found = {f: str(getattr(message, f))[:ID_CHARS] for f in ID_FIELDS if f in names and getattr(message, f)}
    bind(**found)
    return found


def current_ids() -> Mapping[str, str]:
    return _IDS.get() or {}


def _from_workflow(record: logging.LogRecord) -> dict[str, str]:
    found: dict[str, str] = {}
    for extra in ("temporal_workflow", "temporal_activity"):
        info = getattr(record, extra, None)
        if isinstance(info, Mapping):
            wf_id = str(info.get("workflow_id", ""))
            found["workflow_id"] = wf_id
            for prefix, key in _WORKFLOW_PREFIXES.items():
                if wf_id.startswith(prefix):
                    found[key] = wf_id.removeprefix(prefix).split("/")[0]
            if "activity_type" in info:
                found["activity"] = str(info["activity_type"])
    return found


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
            **_from_workflow(record),
            **current_ids(),
        }
        for key, value in vars(record).items():
            if key not in _PLAIN and key not in line and not key.startswith("temporal_"):
                line[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(service: str) -> None:
    """Logs to stderr, JSON unless DP_LOG_FORMAT=text; DP_LOG_LEVEL sets the level (INFO)."""
    handler = logging.StreamHandler()
    if os.environ.get("DP_LOG_FORMAT", "json").lower() == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("DP_LOG_LEVEL", "INFO").upper())
