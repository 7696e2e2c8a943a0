"""Sensirion SHT40/SHT41/SHT45 humidity and temperature sensor on I2C (0x44; 0x45, 0x46 variants).

Command-based after the SHT4x datasheet (version 6, "Communication" and "Command Overview"): one
command byte, then a read of the reply once the chip is done.

- 0xFD / 0xF6 / 0xE0 measure with high / medium / low repeatability and take at most 8.3 / 4.5 /
  1.6 ms (system timing table, "measurement duration", max);
- 0x39, 0x32 / 0x2F, 0x24 / 0x1E, 0x15 heat at 200 / 110 / 20 mW for 1 s or 0.1 s, then measure with
  high repeatability ("Heater Operation"; at most 1.1 s or 0.11 s in all);
- 0x89 reads the serial number, 0x94 is a soft reset (at most 1 ms, system timing table).

Replies are two 16-bit words, each followed by its CRC-8 (:mod:`~labtwin.twin.parts.sensirion_crc`).
Like every Sensirion sensor without clock stretching (the SHTC1 datasheet, 5.4, says it outright),
the chip acknowledges neither read nor write headers while it is busy, and the SHT4x pseudo code
waits 10 ms before reading: a driver that reads at once gets a NACK, as from a real part.
T = -45 + 175 * S_T / 65535 and RH = -6 + 125 * S_RH / 65535 ("Conversion of Signal Output"); the
chip reports RH outside 0..100 %RH unclipped, so the model inverts it unclipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from labtwin.errors import ConfigError
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.i2c import I2CTarget
from labtwin.twin.parts.quantity import as_quantity
from labtwin.twin.parts.sensing import QuantitySource, Sensing
from labtwin.twin.parts.sensirion_crc import sensirion_crc8

__all__ = ["Sht4x", "rh_to_ticks", "temperature_to_ticks", "ticks_to_rh", "ticks_to_temperature"]

CMD_SERIAL, CMD_SOFT_RESET = 0x89, 0x94
# command -> (duration in s, repeatability sigmas (°C, %RH), heater power in mW, heating in s)
MEASUREMENTS: dict[int, tuple[float, tuple[float, float], float, float]] = {
    0xFD: (0.0083, (0.04, 0.08), 0.0, 0.0),
    0xF6: (0.0045, (0.07, 0.15), 0.0, 0.0),
    0xE0: (0.0016, (0.10, 0.25), 0.0, 0.0),
    0x39: (1.1, (0.04, 0.08), 200.0, 1.0),
    0x32: (0.11, (0.04, 0.08), 200.0, 0.1),
    0x2F: (1.1, (0.04, 0.08), 110.0, 1.0),
    0x24: (0.11, (0.04, 0.08), 110.0, 0.1),
    0x1E: (1.1, (0.04, 0.08), 20.0, 1.0),
    0x15: (0.11, (0.04, 0.08), 20.0, 0.1),
}
"""Repeatabilities are the datasheet's (RH and T specification tables); the model uses a third of each as sigma."""
SERIAL_S = 0.001  # the serial number is ready after about a millisecond (assumed: no datasheet figure)
SOFT_RESET_S = 0.001  # system timing table, soft reset time, max


def temperature_to_ticks(celsius: float) -> int:
    """The 16-bit reading for ``celsius``: the inverse of T = -45 + 175 * S / 65535, rounded."""
    return min(max(round((celsius + 45.0) * 65535.0 / 175.0), 0), 0xFFFF)


def rh_to_ticks(percent: float) -> int:
    """The 16-bit reading for ``percent`` %RH: the inverse of RH = -6 + 125 * S / 65535, rounded."""
    return min(max(round((percent + 6.0) * 65535.0 / 125.0), 0), 0xFFFF)


def ticks_to_temperature(ticks: int) -> float:
    """The datasheet's conversion: T [°C] = -45 + 175 * S_T / 65535."""
    return -45.0 + 175.0 * ticks / 65535.0


def ticks_to_rh(ticks: int) -> float:
    """The datasheet's conversion: RH [%RH] = -6 + 125 * S_RH / 65535 (not clipped)."""
    return -6.0 + 125.0 * ticks / 65535.0


def _word(value: int) -> bytes:
    data = bytes([value >> 8, value & 0xFF])
    return data + bytes([sensirion_crc8(data)])


def _saturation_vapour_pressure(celsius: float) -> float:
    """Magnus formula over water (hPa): how much a heated sensor's RH drops."""
    return 6.112 * math.exp(17.62 * celsius / (243.12 + celsius))


class Sht4x(I2CTarget):
    """An SHT4x sensing ``temperature`` (°C) and ``humidity`` (%RH).

    Args:
        address: 0x44 (SHT4x-A), 0x45 (-B) or 0x46 (-C).
        temperature, humidity: what the chip senses (numbers, functions of lab time, Quantities).
        seed, noise: seeded noise, ``noise`` times the datasheet repeatability (0: none).
        serial_number: the 32-bit serial; by default derived from ``seed``.
        heater_rise: kelvin the heater adds to the sensor, as a function of (power in mW, heating
            time in s). ``None`` models only the heater's timing, not its warming.
        trace: records each measurement as ``<name>.temperature`` and ``<name>.humidity``.
        name: label in trace signals, ``sht4x.<name>.<quantity>`` (default: the address, ``sht4x.0x44``).
    """

    def __init__(self, address: int = 0x44, *, temperature: QuantitySource = 22.0,
                 humidity: QuantitySource = 45.0, seed: int = 0, noise: float = 1.0,
                 serial_number: int | None = None, heater_rise: Callable[[float, float], float] | None = None,
                 trace: Trace | None = None, name: str | None = None) -> None:
        if address not in (0x44, 0x45, 0x46):
            raise ConfigError(f"an SHT4x answers at 0x44, 0x45 or 0x46, not 0x{address:02x}")
        super().__init__(address)
        self.temperature = as_quantity(temperature)
        self.humidity = as_quantity(humidity)
        self.sensing = Sensing(f"sht4x.{name or f'0x{address:02x}'}", seed=seed, noise=noise, trace=trace)
        self.serial_number = (serial_number if serial_number is not None
                              else (0x0F000000 + (seed * 2654435761)) & 0xFFFFFFFF)
        self.heater_rise = heater_rise
        self._busy_until = -math.inf
        self._reply = b""  # what the next read header gets, once the chip is no longer busy
        self._pending: tuple[int, float] | None = None  # (command, completion time) of a measurement

    def busy(self, t: float) -> bool:
        """Whether the chip is still measuring or resetting at ``t``."""
        return t < self._busy_until

    def acknowledges(self, read: bool, t: float) -> bool:
        """NACK while busy; a read header is also NACKed when there is nothing to send."""
        if not self.responding or self.busy(t):
            return False
        self._complete()
        return bool(self._reply) or not read

    def write(self, data: bytes, t: float) -> int:
        """A command byte; a command the chip does not know is NACKed."""
        if not data:
            return 0
        command = data[0]
        self._reply, self._pending = b"", None
        if command in MEASUREMENTS:
            duration = MEASUREMENTS[command][0]
            self._pending = (command, t + duration)
            self._busy_until = t + duration
        elif command == CMD_SERIAL:
            self._reply = _word(self.serial_number >> 16) + _word(self.serial_number & 0xFFFF)
            self._busy_until = t + SERIAL_S
        elif command == CMD_SOFT_RESET:
            self._busy_until = t + SOFT_RESET_S
        else:
            return 0
        return len(data)

    def read(self, n: int, t: float) -> bytes:
        """The reply (six bytes); the chip sends 0xFF past its end, and forgets a reply once read."""
        self._complete()
        out, self._reply = self._reply[:n], b""
        return out + b"\xff" * (n - len(out))

    def _complete(self) -> None:
        """Turn a finished measurement into its reply."""
        if self._pending is None:
            return
        command, t = self._pending
        self._pending = None
        _, (sigma_t, sigma_rh), power_mw, heat_s = MEASUREMENTS[command]
        ambient_t, ambient_rh = self.temperature.value(t), self.humidity.value(t)
        sensor_t, sensor_rh = ambient_t, ambient_rh
        if power_mw and self.heater_rise is not None:
            # The heated sensor reads its own temperature, and the RH of the same air at it.
            sensor_t = ambient_t + self.heater_rise(power_mw, heat_s)
            sensor_rh = ambient_rh * _saturation_vapour_pressure(ambient_t) / _saturation_vapour_pressure(sensor_t)
        noise = self.sensing.noise
        measured_t = noise.add(sensor_t, sigma_t / 3.0)
        measured_rh = noise.add(sensor_rh, sigma_rh / 3.0)
        self.sensing.record("temperature", t, measured_t)
        self.sensing.record("humidity", t, measured_rh)
        self._reply = _word(temperature_to_ticks(measured_t)) + _word(rh_to_ticks(measured_rh))
