"""1-Wire bus and DS18B20: a master written from the datasheets drives the models slot by slot."""

from __future__ import annotations

import pytest

from labtwin.errors import ConfigError
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.ds18b20 import Ds18b20
from labtwin.twin.parts.onewire import RESET_S, SLOT_S, OneWireBus, crc8, rom_code
from labtwin.twin.parts.quantity import SharedQuantity


class Master:
    """A bus master on a lab-time cursor, using only the ``_onewire`` operations."""

    def __init__(self, bus: OneWireBus, t: float = 0.0) -> None:
        self.bus, self.t = bus, t

    def reset(self) -> bool:
        present = self.bus.reset(self.t)
        self.t += RESET_S
        return present

    def readbit(self) -> int:
        bit = self.bus.readbit(self.t)
        self.t += SLOT_S
        return bit

    def writebit(self, bit: int) -> None:
        self.bus.writebit(bit, self.t)
        self.t += SLOT_S

    def write(self, data: bytes) -> None:
        for byte in data:
            self.bus.writebyte(byte, self.t)
            self.t += 8 * SLOT_S

    def read(self, n: int) -> bytes:
        out = bytearray()
        for _ in range(n):
            out.append(self.bus.readbyte(self.t))
            self.t += 8 * SLOT_S
        return bytes(out)

    def search(self, command: int = 0xF0) -> list[bytes]:
        """Maxim's search: read bit and complement, pick a branch, remember the last discrepancy."""
        found: list[bytes] = []
        last_zero_branch, previous = -1, 0
        while True:
            if not self.reset():
                return found
            self.write(bytes([command]))
            rom, branch_point = 0, -1
            for i in range(64):
                bit, complement = self.readbit(), self.readbit()
                if bit and complement:
                    return found  # nobody answered
                if bit == complement:  # both 0: devices disagree here
                    if i < last_zero_branch:
                        take = (previous >> i) & 1  # the path taken last time
                    else:
                        take = int(i == last_zero_branch)  # now the 1 branch there; 0 beyond it
                    if not take:
                        branch_point = i
                    bit = take
                self.writebit(bit)
                rom |= bit << i
            found.append(rom.to_bytes(8, "little"))
            previous, last_zero_branch = rom, branch_point
            if last_zero_branch < 0:
                return found

    def select(self, rom: bytes | None) -> None:
        assert self.reset()
        self.write(b"\xcc" if rom is None else b"\x55" + rom)

    def scratchpad(self, rom: bytes | None = None) -> bytes:
        self.select(rom)
        self.write(b"\xbe")
        return self.read(9)

    def convert(self, rom: bytes | None = None) -> None:
        self.select(rom)
        self.write(b"\x44")


def celsius(scratchpad: bytes) -> float:
    return int.from_bytes(scratchpad[:2], "little", signed=True) / 16


def test_crc8_is_dallas_maxim():
    assert crc8(bytes.fromhex("021cb801000000")) == 0xA2  # Maxim AN27's worked example
    assert crc8(bytes.fromhex("021cb801000000a2")) == 0
    assert rom_code(0x28, 0x0000_0800_1A2B)[0] == 0x28


def test_presence_only_with_a_device():
    assert not OneWireBus().reset(0.0)
    assert OneWireBus([Ds18b20(20.0)]).reset(0.0)


def test_power_on_scratchpad_is_85_degrees_with_its_crc():
    master = Master(OneWireBus([Ds18b20(20.0)]))
    pad = master.scratchpad()
    assert pad == bytes.fromhex("50054b467fff0c101c")  # the datasheet's power-on bytes, CRC 0x1C
    assert celsius(pad) == 85.0


def test_read_rom_on_a_single_drop_bus():
    sensor = Ds18b20(20.0, serial=0x1234_5678_9ABC)
    master = Master(OneWireBus([sensor]))
    assert master.reset()
    master.write(b"\x33")
    rom = master.read(8)
    assert rom == sensor.rom and rom[0] == 0x28 and crc8(rom) == 0


def test_search_rom_finds_every_device():
    serials = [0x0000_0000_0001, 0x0000_0000_0003, 0x8000_0000_0001, 0x0000_00FF_0000, 0x7FFF_FFFF_FFFF]
    sensors = [Ds18b20(20.0, serial=s) for s in serials]
    master = Master(OneWireBus(sensors))
    found = master.search()
    assert sorted(found) == sorted(s.rom for s in sensors)
    assert all(crc8(rom) == 0 for rom in found)


def test_search_on_an_empty_bus_finds_nothing():
    assert Master(OneWireBus()).search() == []


def test_conversion_takes_750_ms_and_reads_zero_meanwhile():
    sensor = Ds18b20(lambda t: 20.0 + t)  # warming 1 degC per second
    master = Master(OneWireBus([sensor]), t=1.0)
    master.convert()
    started = master.t
    assert master.readbit() == 0
    master.t = started + 0.74
    assert master.readbit() == 0
    master.t = started + 0.751
    assert master.readbit() == 1
    pad = master.scratchpad()
    assert crc8(pad) == 0
    assert celsius(pad) == pytest.approx(20.0 + started + 0.75, abs=1 / 32)  # sampled when it ended


def test_scratchpad_during_conversion_still_holds_the_old_value():
    master = Master(OneWireBus([Ds18b20(20.0)]))
    master.convert()
    assert celsius(master.scratchpad()) == 85.0


@pytest.mark.parametrize(("temperature", "raw"), [(125.0, 0x07D0), (25.0625, 0x0191), (0.5, 0x0008),
                                                    (-10.125, 0xFF5E), (-55.0, 0xFC90), (-80.0, 0xFC90)])
def test_temperature_register_matches_the_datasheet_table(temperature: float, raw: int):
    master = Master(OneWireBus([Ds18b20(temperature)]))
    master.convert()
    master.t += 0.75
    assert master.scratchpad()[:2] == raw.to_bytes(2, "little")


def test_nine_bit_resolution_converts_faster_and_coarser():
    sensor = Ds18b20(21.3)
    master = Master(OneWireBus([sensor]))
    master.select(None)
    master.write(bytes([0x4E, 0x4B, 0x46, 0x1F]))  # TH, TL, config = 9 bits
    assert master.scratchpad()[4] == 0x1F
    master.convert()
    master.t += 0.094
    assert master.readbit() == 1
    pad = master.scratchpad()
    assert celsius(pad) == 21.5 and pad[0] & 0x07 == 0


def test_write_scratchpad_keeps_the_fixed_config_bits():
    master = Master(OneWireBus([Ds18b20(20.0)]))
    master.select(None)
    master.write(bytes([0x4E, 0x10, 0x05, 0xFF]))
    assert master.scratchpad()[2:5] == bytes([0x10, 0x05, 0x7F])


def test_copy_to_eeprom_and_recall():
    sensor = Ds18b20(20.0)
    master = Master(OneWireBus([sensor]))
    master.select(None)
    master.write(bytes([0x4E, 30, 10, 0x3F]))
    master.select(None)
    master.write(b"\x48")
    assert master.readbit() == 0  # writing the EEPROM
    master.t += 0.010
    assert master.readbit() == 1
    master.select(None)
    master.write(bytes([0x4E, 0, 0, 0x7F]))
    master.select(None)
    master.write(b"\xb8")
    assert master.readbit() == 1
    assert master.scratchpad()[2:5] == bytes([30, 10, 0x3F])
    sensor.power_on()
    assert (sensor.th, sensor.tl, sensor.resolution) == (30, 10, 10)


def test_match_rom_talks_to_one_device_only():
    hot, cold = Ds18b20(60.0, serial=1), Ds18b20(5.0, serial=2)
    master = Master(OneWireBus([hot, cold]))
    master.convert()  # SKIP ROM: both convert
    master.t += 0.75
    assert celsius(master.scratchpad(hot.rom)) == 60.0
    assert celsius(master.scratchpad(cold.rom)) == 5.0


def test_alarm_search_finds_only_devices_out_of_their_limits():
    hot, ok = Ds18b20(60.0, serial=1), Ds18b20(20.0, serial=2)
    master = Master(OneWireBus([hot, ok]))  # factory TH 75, TL 70: both alarm at first
    master.select(None)
    master.write(bytes([0x4E, 50, 10, 0x7F]))
    master.convert()
    master.t += 0.75
    assert master.search(0xEC) == [hot.rom]


def test_parasite_power_reads_zero_on_read_power_supply():
    master = Master(OneWireBus([Ds18b20(20.0, parasite=True)]))
    master.select(None)
    master.write(b"\xb4")
    assert master.readbit() == 0


def test_a_shorted_line_reads_a_plausible_zero_degrees():
    bus = OneWireBus([Ds18b20(20.0)])
    bus.held_low = True
    master = Master(bus)
    pad = master.scratchpad()
    assert pad == bytes(9) and crc8(pad) == 0  # a CRC check does not catch it: 0.0 degC


def test_unplugged_device_gives_no_presence():
    sensor = Ds18b20(20.0)
    bus = OneWireBus([sensor])
    sensor.present = False
    assert not bus.reset(0.0)


def test_heater_moves_the_temperature_the_sensor_reads():
    bath = SharedQuantity("bath", 20.0)
    trace = Trace()
    sensor = Ds18b20(bath, name="bath", trace=trace)
    master = Master(OneWireBus([sensor]))
    master.convert()
    master.t += 0.75
    before = celsius(master.scratchpad())
    bath.add(4.5)  # a heater put heat in
    master.convert()
    master.t += 0.75
    assert celsius(master.scratchpad()) - before == 4.5
    assert [v for _, v in trace.samples("ds18b20.bath.temperature")] == [20.0, 24.5]


def test_rom_codes_are_checked_and_unique():
    with pytest.raises(ConfigError):
        OneWireBus([Ds18b20(1.0, serial=5), Ds18b20(2.0, serial=5)])
    with pytest.raises(ConfigError):
        rom_code(0x28, 1 << 48)
