"""The one wire format of a moment: ISO 8601 in UTC, to the millisecond, with a `Z` (API.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Optional, overload


@overload
def iso(moment: datetime) -> str: ...
@overload
def iso(moment: None) -> None: ...
def iso(moment: Optional[datetime]) -> Optional[str]:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@overload
def iso_ms(ms: int) -> str: ...
@overload
def iso_ms(ms: None) -> None: ...
def iso_ms(ms: Optional[int]) -> Optional[str]:
    """A moment given in epoch milliseconds (the draft sessions' clock)."""
    return None if ms is None else iso(datetime.fromtimestamp(ms / 1000, tz=UTC))


def ms_of(value: str) -> int:
    """Epoch milliseconds of an ISO 8601 moment."""
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
