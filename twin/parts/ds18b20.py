"""DS18B20: Maxim's 1-Wire digital thermometer, as its datasheet (19-7487 Rev 6) describes it.

- ROM family 0x28. Scratchpad of 9 bytes: temperature LSB/MSB (two's complement, 1/16 degC per
  count), TH, TL, configuration (0 R1 R0 1 1 1 1 1), three reserved bytes (0xFF, 0x0C, 0x10), CRC-8.
- Power-on: 85 degC (0x0550) until the first conversion; TH, TL and configuration recalled from
  EEPROM (factory 0x4B, 0x46, 0x7F = 12 bits).
- CONVERT T 0x44: takes 93.75 / 187.5 / 375 / 750 ms at 9 / 10 / 11 / 12 bits (the datasheet's
  maxima; ``speed`` scales them, real parts are faster); read slots return 0 while converting and 1
  when done (external power). The temperature is sampled when the conversion ends, clamped to
  -55..+125 degC and rounded to the resolution; the undefined low bits read 0.
- READ SCRATCHPAD 0xBE (the master may stop early with a reset), WRITE SCRATCHPAD 0x4E (TH, TL,
  configuration: only R1 R0 are writable), COPY SCRATCHPAD 0x48 (to EEPROM, 10 ms, read slots 0
  until done), RECALL E2 0xB8, READ POWER SUPPLY 0xB4 (parasite-powered parts pull low).
- The alarm flag (ALARM SEARCH) is set by a conversion whose integer degrees are >= TH or <= TL.
"""

from __future__ import annotations

from collections.abc import Callable

from labtwin.errors import ConfigError
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.onewire import OneWireDevice, Slots, crc8, rom_code
from labtwin.twin.parts.quantity import Quantity, as_quantity

__all__ = ["CONVERSION_S", "Ds18b20"]

FAMILY = 0x28
CONVERT_T, READ_SCRATCHPAD, WRITE_SCRATCHPAD = 0x44, 0xBE, 0x4E
COPY_SCRATCHPAD, RECALL_E2, READ_POWER_SUPPLY = 0x48, 0xB8, 0xB4
CONVERSION_S = {9: 0.09375, 10: 0.1875, 11: 0.375, 12: 0.75}
EEPROM_WRITE_S = 0.010
POWER_ON_RAW = 0x0550  # +85 degC
FACTORY_EEPROM = (0x4B, 0x46, 0x7F)


def _signed_byte(value: int) -> int:
    return value - 256 if value & 0x80 else value


class Ds18b20(OneWireDevice):
    """A DS18B20 reading ``temperature`` (degC, a :class:`Quantity`, a number or a function of lab time).

    Args:
        temperature: what the sensor's die sits at.
        serial: the 48-bit serial number in its ROM code.
        parasite: powered from the data line (READ POWER SUPPLY answers 0; no busy signal).
        speed: fraction of the datasheet's maximum conversion time the part takes (1.0 = maximum).
        name: label in trace signals (``ds18b20.<name>.temperature``).
        trace: where completed conversions go.
    """

    def __init__(self, temperature: float | Quantity | Callable[[float], float], *, serial: int = 0x000000000001,
                 parasite: bool = False, speed: float = 1.0, name: str = "ds18b20",
                 trace: Trace | None = None) -> None:
        super().__init__(rom_code(FAMILY, serial))
        if not 0 < speed <= 1.0:
            raise ConfigError(f"DS18B20 speed is a fraction of the maximum conversion time, not {speed}")
        self.temperature = as_quantity(temperature)
        self.parasite, self.speed, self.name, self._trace = parasite, speed, name, trace
        self.eeprom = bytearray(FACTORY_EEPROM)
        self.power_on()

    def power_on(self) -> None:
        """Power-up state: 85 degC in the scratchpad, EEPROM recalled, no alarm, no conversion."""
        self.raw = POWER_ON_RAW
        self.th, self.tl, self.config = self.eeprom
        self.alarm_flag = False
        self._conversion: tuple[float, int] | None = None  # (ends at, resolution)
        self._busy_until = 0.0

    @property
    def resolution(self) -> int:
        """Bits of resolution the configuration register selects (9..12)."""
        return 9 + ((self.config >> 5) & 0x03)

    def conversion_time(self) -> float:
        """Seconds a CONVERT T takes at the current resolution."""
        return CONVERSION_S[self.resolution] * self.speed

    def _finish(self, t: float) -> None:
        if self._conversion is None or t < self._conversion[0]:
            return
        done, bits = self._conversion
        self._conversion = None
        celsius = min(max(self.temperature.value(done), -55.0), 125.0)
        step = 1 << (12 - bits)  # counts of 1/16 degC per LSB at this resolution
        self.raw = (round(celsius * 16 / step) * step) & 0xFFFF
        degrees = (self.raw - 0x10000 if self.raw & 0x8000 else self.raw) >> 4
        self.alarm_flag = degrees >= _signed_byte(self.th) or degrees <= _signed_byte(self.tl)
        if self._trace is not None:
            self._trace.record(f"ds18b20.{self.name}.temperature", done, self.celsius())

    def celsius(self) -> float:
        """The temperature register in degC (what a driver computes from bytes 0 and 1)."""
        raw = self.raw - 0x10000 if self.raw & 0x8000 else self.raw
        return raw / 16

    def scratchpad(self, t: float) -> bytes:
        """The 9 bytes READ SCRATCHPAD returns at ``t``, CRC last."""
        self._finish(t)
        body = bytes([self.raw & 0xFF, self.raw >> 8, self.th, self.tl, self.config, 0xFF, 0x0C, 0x10])
        return body + bytes([crc8(body)])

    def converting(self, t: float) -> bool:
        """Whether a conversion is running at ``t``."""
        self._finish(t)
        return self._conversion is not None

    def alarm(self) -> bool:
        """The alarm flag of the last conversion (ALARM SEARCH)."""
        self._finish(self.now)
        return self.alarm_flag

    def _busy(self, t: float) -> int:
        self._finish(t)
        if self.parasite:
            return 1
        return 0 if self._conversion is not None or t < self._busy_until else 1

    def function(self) -> Slots:
        """CONVERT T, READ/WRITE/COPY SCRATCHPAD, RECALL E2, READ POWER SUPPLY."""
        command = yield from self.receive_byte()
        t = self.now
        self._finish(t)
        if command == CONVERT_T:
            if self._conversion is None:
                self._conversion = (t + self.conversion_time(), self.resolution)
            while True:
                yield self._busy
        elif command == READ_SCRATCHPAD:
            for byte in self.scratchpad(t):
                yield from self.send_byte(byte)
        elif command == WRITE_SCRATCHPAD:
            self.th = yield from self.receive_byte()
            self.tl = yield from self.receive_byte()
            config = yield from self.receive_byte()
            self.config = (config & 0x60) | 0x1F
        elif command == COPY_SCRATCHPAD:
            self.eeprom[:] = bytes([self.th, self.tl, self.config])
            self._busy_until = t + EEPROM_WRITE_S
            while True:
                yield self._busy
        elif command == RECALL_E2:
            self.th, self.tl, self.config = self.eeprom
            while True:
                yield 1  # recall is done within the first read slot
        elif command == READ_POWER_SUPPLY:
            while True:
                yield 0 if self.parasite else 1
