"""Keep API tokens out of the server's log.

uvicorn logs every request line and websocket handshake with its query string, and a browser's
websocket can only pass its token as `?token=`: without this, `api.log` would hold usable
tokens, undoing "only a SHA-256 is stored". `install()` adds a filter to uvicorn's loggers
that rewrites each line (message, arguments and any traceback) with `token=` query values,
bearer credentials and anything shaped like one of our tokens replaced by `[redacted]`.
"""

from __future__ import annotations

import logging
import re

from streams.storage.tokens import TOKEN_PREFIX

REDACTED = "[redacted]"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
_SECRETS = (
    (re.compile(r"(?i)(\btoken=)[^&\s\"']+"), rf"\g<1>{REDACTED}"),
    (re.compile(r"(?i)(\bbearer\s+)[^\s\"',]+"), rf"\g<1>{REDACTED}"),
    (re.compile(rf"{re.escape(TOKEN_PREFIX)}[A-Za-z0-9_-]+"), REDACTED),
)
_traceback = logging.Formatter()


def redact(text: str) -> str:
    """`text` with every token-like secret replaced by `[redacted]`."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactTokens(logging.Filter):
    """Rewrites a record so that no handler can print a token from it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = _traceback.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install() -> None:
    """Add the filter to uvicorn's loggers (records are filtered where they are logged)."""
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
