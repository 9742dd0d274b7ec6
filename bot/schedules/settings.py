"""The [schedules] config section: what the bot does on its own, and when."""

from __future__ import annotations

from dataclasses import dataclass

from bot.schedules.triggers import check_timezone, cron_trigger, parse_duration
from core.errors import ConfigError

DESTINATION_PLATFORMS = ("telegram", "slack")


@dataclass(frozen=True)
class SchedulesSettings:
    enabled: bool = True
    timezone: str = "UTC"
    recrawl_every: str = "6h"
    recrawl_overrides: tuple[str, ...] = ()
    retrain_cron: str = "0 3 * * 0"
    retrain_min_new_documents: int = 20
    retrain_check_every: str = "1h"
    digest_cron: str = "0 9 * * 1"
    digest_to: tuple[str, ...] = ()
    report_to: tuple[str, ...] = ()
    misfire_grace: int = 3600
    retries: int = 3
    retry_backoff: float = 60.0
    report_after: int = 3
    backup_cron: str = ""
    backup_keep: int = 7
    backup_dir: str = ""

    def overrides(self) -> dict[str, str]:
        """recrawl_overrides as {source url: duration}."""
        out: dict[str, str] = {}
        for item in self.recrawl_overrides:
            url, sep, duration = item.rpartition("=")
            if not sep or not url.strip():
                raise ConfigError(
                    "config key schedules.recrawl_overrides must list SOURCE=DURATION items,"
                    f' e.g. ["https://github.com/you=1d"], got {item!r}'
                )
            out[url.strip()] = duration.strip()
        return out

    def validate(self) -> None:
        check_timezone(self.timezone, "schedules.timezone")
        parse_duration(self.recrawl_every, "schedules.recrawl_every")
        for url, duration in self.overrides().items():
            parse_duration(duration, f"schedules.recrawl_overrides ({url})")
        cron_trigger(self.retrain_cron, "schedules.retrain_cron", self.timezone)
        parse_duration(self.retrain_check_every, "schedules.retrain_check_every")
        cron_trigger(self.digest_cron, "schedules.digest_cron", self.timezone)
        cron_trigger(self.backup_cron, "schedules.backup_cron", self.timezone)
        for key in ("digest_to", "report_to"):
            for destination in getattr(self, key):
                platform, sep, channel = destination.partition(":")
                if not sep or platform not in DESTINATION_PLATFORMS or not channel.strip():
                    raise ConfigError(
                        f"config key schedules.{key} must list telegram:<chat id> or"
                        f" slack:<channel id> items, got {destination!r}"
                    )
        checks = (
            (self.retrain_min_new_documents >= 0, "retrain_min_new_documents", "0 (off) or more"),
            (self.misfire_grace >= 1, "misfire_grace", "at least 1 (seconds)"),
            (self.retries >= 0, "retries", "0 or more"),
            (self.retry_backoff > 0, "retry_backoff", "positive (seconds)"),
            (self.report_after >= 1, "report_after", "at least 1"),
            (self.backup_keep >= 1, "backup_keep", "at least 1"),
        )
        for ok, key, what in checks:
            if not ok:
                raise ConfigError(f"config key schedules.{key} must be {what}")
