"""Schedule expressions from config: durations ("30m", "6h", "1d", "off") and cron lines
("0 9 * * 1"), turned into APScheduler triggers, or refused naming the key."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.errors import ConfigError

__all__ = ["cron_trigger", "every", "interval_trigger", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MIN_INTERVAL = timedelta(minutes=1)


def parse_duration(value: str, key: str) -> timedelta | None:
    """ "30m", "6h", "1.5d", "2w"; "off" (or "0") → None."""
    text = value.strip().lower()
    if text in ("off", "0", "never", ""):
        return None
    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(
            f'config key {key} must be a duration like "30m", "6h", "1d" or "off", got {value!r}'
        )
    duration = timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])
    if duration < MIN_INTERVAL:
        raise ConfigError(f"config key {key} must be at least 1 minute, got {value!r}")
    return duration


def every(value: str, key: str) -> str:
    """A duration for display: "every 6h" or "off"."""
    return "off" if parse_duration(value, key) is None else f"every {value.strip()}"


def interval_trigger(duration: timedelta, timezone: str) -> IntervalTrigger:
    return IntervalTrigger(seconds=int(duration.total_seconds()), timezone=timezone)


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _weekdays(field: str) -> str:
    """crontab's weekday numbers (0 or 7 = Sunday) as names: APScheduler 3 numbers them
    from Monday, so "0 3 * * 0" would otherwise fire on Mondays."""

    def name(match: re.Match[str]) -> str:
        number = int(match.group(0))
        if number > 7:
            raise ValueError(f"weekday {number} is not 0-7")
        return _WEEKDAYS[number]

    return re.sub(r"(?<![/\d])\d+", name, field)


def cron_trigger(value: str, key: str, timezone: str) -> CronTrigger | None:
    """A crontab line (minute hour day month weekday, weekdays 0-7 with 0 and 7 Sunday,
    or names); "" or "off" → None."""
    text = value.strip()
    if text.lower() in ("", "off"):
        return None
    try:
        fields = text.split()
        if len(fields) != 5:
            raise ValueError(f"{len(fields)} fields, not 5")
        minute, hour, day, month, weekday = fields
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_weekdays(weekday),
            timezone=timezone,
        )
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"config key {key} must be a cron line (minute hour day month weekday, e.g."
            f' "0 9 * * 1" for Mondays at 09:00), got {value!r}: {exc}'
        ) from None


def check_timezone(value: str, key: str) -> Any:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f'config key {key} must be a time zone name like "UTC" or "Europe/Lisbon", '
            f"got {value!r}"
        ) from None
