"""Errors of the data sources: one item (a series, a ticker) fails, the poll goes on."""

from streams.exceptions import NautilusError


class SourceError(NautilusError):
    """A source could not deliver an item; nothing of that item is published."""


class FetchError(SourceError):
    """An HTTP request failed for good: a status that is not retried, or retries used up."""


class PayloadError(SourceError):
    """A response is not in the source's documented format, or is incomplete."""


class RateLimitError(SourceError):
    """The provider's limit, or the budget kept for it, is reached: try later."""


class EntitlementError(SourceError):
    """The provider refuses what the key is not entitled to (a premium function)."""
