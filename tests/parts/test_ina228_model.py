"""INA228 model: the register accesses of micropython-ina228, checked with the datasheet's LSBs."""

from __future__ import annotations

import math

import pytest
from i2c_chip_testkit import DriverI2C

from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.ina228 import Ina228
from labtwin.twin.parts.quantity import TimeFunction

ADDRESS = 0x40
VBUS_LSB = 195.3125e-6


def signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


class Driver:
    """The driver's calls: 16-bit writes as [pointer, MSB, LSB], reads as a pointer write then a read."""

    def __init__(self, i2c: DriverI2C, shunt_resistance: float = 0.015, max_current: float = 10.0) -> None:
        self.i2c = i2c
        self.write16(0x00, 0x8000)  # reset
        i2c.sleep_ms(2)
        self.adc_range = 0
        full_adc = max_current * shunt_resistance > 40.96e-3
        self.current_lsb = max_current / 0x80000
        shunt_cal = math.ceil(13107.2e6 * self.current_lsb * shunt_resistance * (1 if full_adc else 4))
        config = self.read(0x00, 2)
        self.write16(0x00, config & ~0x10 if full_adc else config | 0x10)
        self.adc_range = 0 if full_adc else 1
        i2c.sleep_ms(2)
        self.write16(0x02, shunt_cal)
        i2c.sleep_ms(2)

    def write16(self, register: int, value: int) -> None:
        self.i2c.writeto(ADDRESS, bytes([register, (value >> 8) & 0xFF, value & 0xFF]))

    def read(self, register: int, n: int) -> int:
        self.i2c.writeto(ADDRESS, bytes([register]))
        return int.from_bytes(self.i2c.readfrom(ADDRESS, n), "big")

    def voltage(self) -> float:
        return (self.read(0x05, 3) >> 4) * VBUS_LSB

    def shunt_voltage(self) -> float:
        return signed(self.read(0x04, 3) >> 4, 20) * (78.125e-9 if self.adc_range else 312.5e-9)

    def current(self) -> float:
        return signed(self.read(0x07, 3) >> 4, 20) * self.current_lsb

    def power(self) -> float:
        return self.read(0x08, 3) * self.current_lsb * 3.2

    def energy(self) -> float:
        return self.read(0x09, 5) * 16 * self.current_lsb * 3.2

    def charge(self) -> float:
        return signed(self.read(0x0A, 5), 40) * self.current_lsb

    def temperature(self) -> float:
        return signed(self.read(0x06, 2), 16) * 7.8125e-3


@pytest.mark.parametrize(("volts", "amps", "shunt", "max_current"),
                         [(12.0, 1.5, 0.015, 10.0), (48.3, -3.25, 0.015, 10.0), (3.3, 0.2, 0.1, 0.4),
                          (24.0, 7.5, 0.002, 10.0)])
def test_driver_reads_the_model_within_the_lsbs(volts, amps, shunt, max_current):
    chip = Ina228(bus_voltage=volts, current=amps, shunt_resistance=shunt, die_temperature=31.5, noise=0)
    i2c = DriverI2C(chip)
    ina = Driver(i2c, shunt, max_current)
    i2c.sleep_ms(chip.cycle_time() * 1000 + 0.01)
    vshunt_lsb = 78.125e-9 if ina.adc_range else 312.5e-9
    assert ina.voltage() == pytest.approx(volts, abs=VBUS_LSB / 2)
    assert ina.shunt_voltage() == pytest.approx(amps * shunt, abs=vshunt_lsb / 2)
    # CURRENT is computed from the quantised shunt voltage: half a VSHUNT step plus one CURRENT_LSB.
    current_error = vshunt_lsb / 2 / shunt + ina.current_lsb
    assert ina.current() == pytest.approx(amps, abs=current_error)
    assert ina.power() == pytest.approx(abs(amps) * volts, abs=current_error * volts + 3.2 * ina.current_lsb)
    assert ina.temperature() == pytest.approx(31.5, abs=7.8125e-3 / 2)


def test_identification_registers():
    ina = Driver(DriverI2C(Ina228()))
    assert ina.read(0x3E, 2) == 0x5449  # "TI"
    assert ina.read(0x3F, 2) == 0x2281  # device 0x228, revision 1


def test_registers_are_whole_and_do_not_auto_increment():
    i2c = DriverI2C(Ina228())
    i2c.writeto(ADDRESS, b"\x3e")
    assert i2c.readfrom(ADDRESS, 4) == b"\x54\x49\xff\xff"  # not DEVICE_ID after MANUFACTURER_ID
    i2c.writeto(ADDRESS, b"\x01")
    assert i2c.readfrom(ADDRESS, 2) == b"\xfb\x68"  # ADC_CONFIG reset value: continuous, 1052 µs, no averaging


def test_results_update_only_when_a_triggered_conversion_completes():
    level = {"volts": 5.0}
    chip = Ina228(bus_voltage=lambda t: level["volts"], noise=0)
    i2c = DriverI2C(chip)
    ina = Driver(i2c)
    ina.write16(0x01, (0x1 << 12) | (0x5 << 9))  # TRIGGER_VBUS, 1052 µs, no averaging
    i2c.sleep_ms(1.1)
    assert ina.voltage() == pytest.approx(5.0, abs=VBUS_LSB)
    assert ina.read(0x0B, 2) & 0x0002  # CNVRF, cleared by the read
    assert ina.read(0x0B, 2) == 0x0001  # MEMSTAT only
    level["volts"] = 9.0
    i2c.sleep_ms(10)
    assert ina.voltage() == pytest.approx(5.0, abs=VBUS_LSB)  # one conversion only
    ina.write16(0x01, (0x1 << 12) | (0x5 << 9))
    i2c.sleep_ms(1.0)
    assert ina.voltage() == pytest.approx(5.0, abs=VBUS_LSB)  # still converting
    i2c.sleep_ms(0.1)
    assert ina.voltage() == pytest.approx(9.0, abs=VBUS_LSB)


def test_energy_and_charge_accumulate_and_reset():
    chip = Ina228(bus_voltage=12.0, current=2.0, noise=0)
    i2c = DriverI2C(chip)
    ina = Driver(i2c)
    start = i2c.t
    i2c.sleep_ms(1000)
    elapsed = i2c.t - start
    cycle = chip.cycle_time()
    assert ina.charge() == pytest.approx(2.0 * elapsed, abs=2.0 * cycle + 0.001)
    assert ina.energy() == pytest.approx(24.0 * elapsed, abs=24.0 * cycle + 0.01)
    ina.write16(0x00, ina.read(0x00, 2) | 0x4000)  # RSTACC
    assert ina.read(0x09, 5) == ina.read(0x0A, 5) == 0


def test_current_that_changes_with_lab_time_is_seen_changing():
    chip = Ina228(current=TimeFunction(lambda t: 0.5 * t), noise=0)  # +0.5 A per second
    i2c = DriverI2C(chip, t=2.0)
    ina = Driver(i2c)
    i2c.sleep_ms(10)
    first = ina.current()
    i2c.sleep_ms(2000)
    assert ina.current() - first == pytest.approx(1.0, abs=0.002)


def test_noise_is_deterministic_by_seed():
    def readings(seed: int, trace: Trace | None = None) -> list[tuple[float, float]]:
        i2c = DriverI2C(Ina228(current=1.0, seed=seed, trace=trace))
        ina = Driver(i2c)
        out = []
        for _ in range(5):
            i2c.sleep_ms(50)
            out.append((ina.voltage(), ina.current()))
        return out

    trace = Trace()
    assert readings(1, trace) == readings(1) != readings(2)
    assert "ina228.0x40.vbus" in trace


def test_charge_over_an_hour_unread_integrates_the_current():
    chip = Ina228(current=TimeFunction(lambda t: 0.001 * t), noise=0)  # a ramp: 0 A to 3.6 A in an hour
    i2c = DriverI2C(chip, t=0.0)
    ina = Driver(i2c)
    i2c.sleep_ms(3_600_000)
    assert ina.charge() == pytest.approx(0.0005 * 3600.0**2, rel=0.005)  # sampled, not replayed
