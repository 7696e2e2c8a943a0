"""Aosong AHT20 / AHT21 humidity and temperature sensor on I2C (0x38).

Command-based after the AHT20 datasheet (section 5.4, "Sensor reading process"):

- every read starts with the status byte: bit 7 busy, bit 3 calibrated (CAL enable);
- 0xBE 0x08 0x00 initialises (loads the calibration) and takes about 10 ms;
- 0xAC 0x33 0x00 triggers a measurement; the result is ready after about 80 ms;
- 0xBA is a soft reset (under 20 ms); 0x71 asks for the status byte (a plain read gives it too).

A reading is seven bytes: status, 20-bit humidity and 20-bit temperature sharing the middle byte,
and a CRC-8 over the first six (:mod:`~labtwin.twin.parts.sensirion_crc`). RH = S_RH / 2^20 * 100 %,
T = S_T / 2^20 * 200 - 50 °C (section 6). After power-on the chip is busy for 40 ms.
"""

from __future__ import annotations

from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.i2c import I2CTarget
from labtwin.twin.parts.quantity import as_quantity
from labtwin.twin.parts.sensing import QuantitySource, Sensing
from labtwin.twin.parts.sensirion_crc import sensirion_crc8

__all__ = ["Aht20", "humidity_to_raw", "raw_to_humidity", "raw_to_temperature", "temperature_to_raw"]

ADDRESS = 0x38
STATUS_BUSY, STATUS_CALIBRATED = 0x80, 0x08
CMD_INIT, CMD_TRIGGER, CMD_SOFT_RESET, CMD_STATUS = 0xBE, 0xAC, 0xBA, 0x71
POWER_ON_S = 0.040  # section 5.4 step 1: wait 40 ms after power-on
INIT_S = 0.010  # section 5.4 step 1: wait 10 ms after the initialisation command
MEASUREMENT_S = 0.080  # section 5.4 step 3: wait 80 ms for the measurement
SOFT_RESET_S = 0.020  # section 5.5: soft reset takes less than 20 ms
FULL_SCALE = 1 << 20
# Noise sigmas: a third of the datasheet's repeatability (±0.1 %RH, ±0.1 °C, Tables 1 and 2).
SIGMA_RH, SIGMA_T = 0.1 / 3.0, 0.1 / 3.0


def humidity_to_raw(percent: float) -> int:
    """The 20-bit reading for ``percent`` %RH (clipped to the 20-bit range)."""
    return min(max(round(percent / 100.0 * FULL_SCALE), 0), FULL_SCALE - 1)


def temperature_to_raw(celsius: float) -> int:
    """The 20-bit reading for ``celsius`` (clipped to the 20-bit range)."""
    return min(max(round((celsius + 50.0) / 200.0 * FULL_SCALE), 0), FULL_SCALE - 1)


def raw_to_humidity(raw: int) -> float:
    """Section 6.1: RH [%] = S_RH / 2^20 * 100."""
    return raw * 100.0 / FULL_SCALE


def raw_to_temperature(raw: int) -> float:
    """Section 6.2: T [°C] = S_T / 2^20 * 200 - 50."""
    return raw * 200.0 / FULL_SCALE - 50.0


class Aht20(I2CTarget):
    """An AHT20 (or the pin-compatible AHT21) sensing ``temperature`` (°C) and ``humidity`` (%RH).

    Args:
        temperature, humidity: what the chip senses (numbers, functions of lab time, Quantities).
        seed, noise: seeded noise, ``noise`` times the typical figures (0: none).
        calibrated: whether the factory calibration is loaded at power-on (the CAL bit); a part
            that reads uncalibrated needs the 0xBE initialisation command.
        trace: records each measurement as ``<name>.temperature`` and ``<name>.humidity``.
        name: label in trace signals, ``aht20.<name>.<quantity>`` (default: the address, ``aht20.0x38``).
        powered_at: lab time of power-on.
    """

    def __init__(self, *, temperature: QuantitySource = 22.0, humidity: QuantitySource = 45.0, seed: int = 0,
                 noise: float = 1.0, calibrated: bool = True, trace: Trace | None = None,
                 name: str | None = None, powered_at: float = 0.0) -> None:
        super().__init__(ADDRESS)
        self.temperature = as_quantity(temperature)
        self.humidity = as_quantity(humidity)
        self.sensing = Sensing(f"aht20.{name or f'0x{ADDRESS:02x}'}", seed=seed, noise=noise, trace=trace)
        self._calibrated = calibrated
        self._busy_until = powered_at + POWER_ON_S
        self._measured_at: float | None = None  # completion time of a triggered measurement
        self._data = bytes(5)  # the last result's five data bytes

    def busy(self, t: float) -> bool:
        """The status byte's busy bit at ``t``."""
        return t < self._busy_until

    def status(self, t: float) -> int:
        """The status byte at ``t``."""
        return (STATUS_BUSY if self.busy(t) else 0) | (STATUS_CALIBRATED if self._calibrated else 0)

    def write(self, data: bytes, t: float) -> int:
        """A command and its parameter bytes; an unknown command is NACKed. Ignored while busy."""
        if not data:
            return 0
        command = data[0]
        if command not in (CMD_INIT, CMD_TRIGGER, CMD_SOFT_RESET, CMD_STATUS):
            return 0
        if self.busy(t) and command != CMD_SOFT_RESET:
            return len(data)
        self._complete(t)
        if command == CMD_INIT and data[1:3] == b"\x08\x00":
            self._calibrated = True
            self._busy_until = t + INIT_S
        elif command == CMD_TRIGGER and data[1:3] == b"\x33\x00":
            self._measured_at = self._busy_until = t + MEASUREMENT_S
        elif command == CMD_SOFT_RESET:
            self._measured_at = None
            self._busy_until = t + SOFT_RESET_S
        return len(data)

    def read(self, n: int, t: float) -> bytes:
        """Status, the last result's five bytes and their CRC; reads while busy give the old data."""
        self._complete(t)
        frame = bytes([self.status(t)]) + self._data
        frame += bytes([sensirion_crc8(frame)])
        return frame[:n] + b"\xff" * max(0, n - len(frame))

    def _complete(self, t: float) -> None:
        """Latch a measurement that has finished by ``t``."""
        if self._measured_at is None or t < self._measured_at:
            return
        at, self._measured_at = self._measured_at, None
        noise = self.sensing.noise
        humidity = noise.add(self.humidity.value(at), SIGMA_RH)
        temperature = noise.add(self.temperature.value(at), SIGMA_T)
        self.sensing.record("humidity", at, humidity)
        self.sensing.record("temperature", at, temperature)
        rh, tc = humidity_to_raw(humidity), temperature_to_raw(temperature)
        self._data = bytes([rh >> 12, (rh >> 4) & 0xFF, ((rh & 0x0F) << 4) | (tc >> 16), (tc >> 8) & 0xFF,
                            tc & 0xFF])

