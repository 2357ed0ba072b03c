"""Timestamps: parsed into aware datetimes where they enter, stored as one fixed-width UTC text.

Stores send ISO 8601 in several shapes: ``2026-11-12T08:00:00Z``, ``+02:00`` offsets, 3, 6 or 9
fractional digits, sometimes no offset at all. Each is parsed once at the edge (the pydantic
:data:`Instant` type on the models) and compared as an instant from then on. A timestamp
without an offset is taken as UTC; digits past the microsecond are dropped.

In SQLite every timestamp is the same text, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, microseconds,
27 characters), so comparing or ordering the text (``ORDER BY started_at``, ``<= ?``) is
comparing the instants.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema


def parse_instant(value: object) -> datetime:
    """An aware UTC datetime from ISO 8601 text (or a datetime); naive means UTC.

    Raises ValueError with a short message (the text is quoted, cut to 40 characters).
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"not an ISO 8601 timestamp: {value[:40]!r}") from None
    else:
        raise ValueError(f"a timestamp is ISO 8601 text, found {type(value).__name__}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    elif moment.tzinfo is UTC:  # "…Z" and "+00:00" parse to UTC itself: nothing to convert
        return moment
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"timestamp out of range: {str(value)[:40]!r}") from None


def canonical(moment: datetime) -> str:
    """The stored form: UTC, microseconds, a Z (``2026-11-12T08:00:00.000000Z``)."""
    # Models at the edges already hold aware UTC datetimes: skip the parse for those.
    utc = moment if isinstance(moment, datetime) and moment.tzinfo is UTC else parse_instant(moment)
    # "…+00:00" → "…Z" by slicing: a third quicker than replace(tzinfo=None), which an ingest
    # of 100,000 runs calls 200,000 times.
    return utc.isoformat(timespec="microseconds")[:-6] + "Z"


def canonical_or_none(moment: datetime | None) -> str | None:
    """:func:`canonical`, passing None through (an optional timestamp)."""
    return None if moment is None else canonical(moment)


#: The canonical form, and what agentdeck wrote before (milliseconds and a Z): both are
#: rewritten without parsing, which keeps migrating a big database quick.
_UTC_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.(\d{3}|\d{6})Z")


def canonical_text(text: str | None) -> str | None:
    """Rewrite stored text in the canonical form; text that is not a timestamp is kept as is."""
    if text is None:
        return None
    fixed = _UTC_Z.fullmatch(text)
    if fixed is not None:
        return text if len(fixed.group(1)) == 6 else text[:23] + "000Z"
    try:
        return canonical(parse_instant(text))
    except ValueError:
        return text


def instant_or_none(text: str | None) -> datetime | None:
    """Parse stored text; None when it is missing or not a timestamp."""
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError:
        return None


def now_iso() -> str:
    """UTC now in the canonical form, as every timestamp agentdeck writes."""
    return canonical(datetime.now(UTC))


#: A timestamp field of a record from a store: any ISO 8601 text in, an aware UTC datetime
#: inside, the canonical text out when dumped as JSON.
Instant = Annotated[
    datetime,
    PlainValidator(parse_instant),
    PlainSerializer(canonical, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
