"""When the shop's staff answer in the conversation (handoff.hours, .holidays, .timezone):
whether they do at a moment, and when they are next back."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kefu.config import WEEKDAYS, HandoffSettings, clock_ranges
from kefu.types import Lang

LOOK_AHEAD_DAYS = 366  # a shop closed longer than this has no next opening


class OpeningHours:
    def __init__(self, cfg: HandoffSettings) -> None:
        self.always = not cfg.hours
        self._zone = ZoneInfo(cfg.timezone) if cfg.timezone else None
        self._holidays = frozenset(cfg.holidays)
        self._week: dict[int, list[tuple[time, time]]] = {
            WEEKDAYS.index(day): clock_ranges(ranges) for day, ranges in cfg.hours.items()}

    def now(self) -> datetime:
        return datetime.now(self._zone).replace(tzinfo=None) if self._zone else datetime.now()

    def open_at(self, moment: datetime) -> bool:
        """Whether the staff answer at moment (the hours' own clock time)."""
        if self.always:
            return True
        return any(start <= moment.time() < end for start, end in self._ranges(moment.date()))

    def next_opening(self, moment: datetime) -> datetime | None:
        """The first moment after `moment` the staff answer again (None: never, in a year)."""
        for ahead in range(LOOK_AHEAD_DAYS):
            day = moment.date() + timedelta(days=ahead)
            for start, _ in self._ranges(day):
                opening = datetime.combine(day, start)
                if opening > moment:
                    return opening
        return None

    def _ranges(self, day: date) -> list[tuple[time, time]]:
        return [] if day in self._holidays else self._week.get(day.weekday(), [])


_DAYS = {"en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
         "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日")}
_NEAR = {"en": ("today", "tomorrow"), "zh": ("今天", "明天")}


def when(lang: Lang, moment: datetime, now: datetime) -> str:
    """A moment as a customer reads it: 'today at 13:30', 'tomorrow at 09:00', 'Monday at
    09:00', '2027-02-18 at 09:00' (and in Chinese: 明天 09:00, 周一 09:00)."""
    days = (moment.date() - now.date()).days
    if days < 2:
        day = _NEAR[lang][days]
    elif days < 7:
        day = _DAYS[lang][moment.weekday()]
    else:
        day = moment.date().isoformat()
    clock = moment.strftime("%H:%M")
    return f"{day} {clock}" if lang == "zh" else f"{day} at {clock}"

