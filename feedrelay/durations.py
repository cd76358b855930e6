"""Durations (`30s`, `15m`, `2h`, `1d`, `1w`) and byte sizes (`15MiB`) as config value types."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$")
_SIZE_UNITS = {None: 1, "B": 1, "KB": 1000, "KiB": 1024, "MB": 10**6, "MiB": 1024**2, "GB": 10**9, "GiB": 1024**3}


def parse_duration(value: object) -> timedelta:
    """`15m` → 15 minutes. A bare number is seconds. Raises ValueError with a hint; every
    duration feedrelay takes (intervals, timeouts, leases, retention) must be longer than zero."""
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        duration = timedelta(seconds=value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        duration = timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    else:
        raise ValueError(f"{value!r} is not a duration (use 15m, 2h, 1d)")
    if duration <= timedelta(0):
        raise ValueError(f"{value!r} is not longer than zero (use 15m, 2h, 1d)")
    return duration


def format_duration(value: timedelta) -> str:
    """The shortest exact `15m`-style spelling of a duration."""
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def parse_size(value: object) -> int:
    """`15MiB` → bytes. A bare number is bytes. Raises ValueError with a hint."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _SIZE.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"{value!r} is not a size (use 512KiB, 15MiB, 1GiB)")
    return int(float(match[1]) * _SIZE_UNITS[match[2]])


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
