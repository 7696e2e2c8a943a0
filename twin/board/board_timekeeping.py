"""The board's watchdog and real-time clock, on the host side of the hardware bus, in lab time.

**Watchdog** (``machine.WDT``). ``wdt_init`` starts it with the port's limits (rp2: only id 0,
``timeout`` at most 8388 ms; esp32: only id 0, ``timeout`` above 0) and each ``wdt_feed`` pushes its
deadline out again. It counts on the host, so firmware stuck in a loop that never reaches the bus
is bitten all the same. When it bites, the board resets: ``on_expired`` runs, the board runner kills
the VM and boots the firmware again, and ``machine.reset_cause()`` answers ``WDT_RESET``. As on the
ports, nothing stops it but a reset.

**RTC** (``machine.RTC``). ``rtc_datetime`` reads or sets the date, which runs on the lab clock from
the port's boot date: rp2 sets 2021-01-01 00:00:00 at every boot but a soft reset; an esp32's RTC
keeps counting across resets and starts at 2000-01-01 at power-on. The tuple is the port's:
``(year, month, day, weekday, hours, minutes, seconds, subseconds)``, weekday 0 = Monday, the
subseconds always 0 on rp2 and microseconds on esp32; a set ignores the weekday (and, on rp2, the
subseconds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from labtwin.twin.clock import Clock
from labtwin.twin.models.mp import MicroPythonError, mp_get_int

__all__ = ["BOOT_DATES", "RP2_WDT_MAX_MS", "BoardTimekeeping"]

log = logging.getLogger("labtwin.twin.board")

RP2_WDT_MAX_MS = 8388
"""RP2040's longest watchdog timeout: 0xffffff / 2 ticks per microsecond, in ms."""

BOOT_DATES = {"rp2": datetime(2021, 1, 1), "esp32": datetime(2000, 1, 1)}
"""What each port's RTC reads after a power-on."""

EINVAL = 22


class BoardTimekeeping:
    """Watchdog and RTC of one board.

    Args:
        clock: lab clock.
        port: ``"rp2"`` or ``"esp32"``.
        on_expired: called when the watchdog bites (the board must reset).
        board_id: names the board in log messages.
    """

    def __init__(self, clock: Clock, port: str, *, on_expired: Callable[[], None], board_id: str = "") -> None:
        self._clock = clock
        self._port = port if port in BOOT_DATES else "rp2"
        self._on_expired = on_expired
        self._board_id = board_id
        self._timeout_s: float | None = None
        self._deadline = 0.0
        self._watch: asyncio.Task[None] | None = None
        self.expirations = 0
        """How often the watchdog has bitten."""
        self._rtc_base = BOOT_DATES[self._port]
        self._rtc_at = clock.now()

    def reset(self, kind: str | None) -> None:
        """A reboot (``kind``: ``"soft"``, ``"hard"``; None for a power cycle): the watchdog is off again."""
        self._timeout_s = None
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        keeps_date = kind == "soft" or (self._port == "esp32" and kind is not None)
        if not keeps_date:
            self._set_date(BOOT_DATES[self._port])

    # ----------------------------------------------------------------- watchdog
    @property
    def watchdog_timeout_ms(self) -> int | None:
        """The running watchdog's timeout, or None when it is off."""
        return None if self._timeout_s is None else round(self._timeout_s * 1000)

    def op_wdt_init(self, wdt_id: object = 0, timeout: object = 5000) -> None:
        """``machine.WDT(id=0, timeout=5000)``: start (or re-time) the watchdog."""
        wid, ms = mp_get_int(wdt_id), mp_get_int(timeout)
        if self._port == "esp32":
            if wid != 0:
                raise MicroPythonError("ValueError", None)
            if ms <= 0:
                raise MicroPythonError.value_error("WDT timeout too short")
        else:
            if wid != 0:
                raise MicroPythonError.value_error(f"WDT({wid}) doesn't exist")
            if ms > RP2_WDT_MAX_MS:
                raise MicroPythonError.value_error(f"timeout exceeds {RP2_WDT_MAX_MS}")
            ms = max(ms, 0)
        self._timeout_s = ms / 1000
        self._feed()
        if self._watch is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # a model driven without an event loop (unit tests): nobody to bite
            self._watch = loop.create_task(self._count_down(), name=f"board {self._board_id} watchdog")

    def op_wdt_feed(self) -> None:
        """``wdt.feed()``."""
        if self._timeout_s is not None:
            self._feed()

    def _feed(self) -> None:
        assert self._timeout_s is not None
        self._deadline = self._clock.now() + self._timeout_s

    async def _count_down(self) -> None:
        while True:
            left = self._deadline - self._clock.now()
            if left <= 0:
                break
            await self._clock.sleep(left)
        self._watch = None
        self._timeout_s = None
        self.expirations += 1
        log.warning("board %s: watchdog not fed in time; resetting the board", self._board_id)
        self._on_expired()

    # ----------------------------------------------------------------- RTC
    def _set_date(self, when: datetime) -> None:
        self._rtc_base, self._rtc_at = when, self._clock.now()

    def rtc_date(self) -> datetime:
        """The date the RTC reads now."""
        return self._rtc_base + timedelta(seconds=self._clock.now() - self._rtc_at)

    def op_rtc_datetime(self, value: object = None) -> list[int] | None:
        """``rtc.datetime([tuple])``: read the port's 8-tuple, or set it from a list of 8."""
        if value is None:
            d = self.rtc_date()
            sub = d.microsecond if self._port == "esp32" else 0
            return [d.year, d.month, d.day, d.weekday(), d.hour, d.minute, d.second, sub]
        if not isinstance(value, list) or len(value) != 8:
            raise MicroPythonError.value_error("requested length 8")
        y, mo, day, _weekday, h, mi, s, sub = (mp_get_int(v) for v in value)
        try:
            when = datetime(y, mo, day, h, mi, s, sub if self._port == "esp32" else 0)
        except (ValueError, OverflowError):
            raise MicroPythonError("OSError", EINVAL) from None
        self._set_date(when)
        return None
