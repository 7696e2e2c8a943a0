"""BoardModel's buses: I2C/SoftI2C, SPI/SoftSPI and UART as the rp2 and esp32 ports behave, on the host side.

Each test names the port source it pins (research notes: /work/notes/micropython-buses.md).
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

import pytest
from testkit import ManualClock

from labtwin.twin.board.bus import PROTOCOL_VERSION, HardwareBus
from labtwin.twin.board.model import BoardModel, MicroPythonError
from labtwin.twin.board.profiles import ESP32, PICO_W, BoardProfile
from labtwin.twin.parts.i2c import RegisterTarget
from labtwin.twin.parts.serial_link import UartDevice
from labtwin.twin.parts.spi import SpiDevice

EIO, ENODEV = 5, 19


def board(profile: BoardProfile, clock: ManualClock) -> BoardModel:
    model = BoardModel(profile, seed=3, clock=clock)
    model.power_on()
    return model


@pytest.fixture
def pico(clock: ManualClock) -> BoardModel:
    return board(PICO_W, clock)


@pytest.fixture
def esp(clock: ManualClock) -> BoardModel:
    return board(ESP32, clock)


def call(model: BoardModel, op: str, *args: Any) -> Any:
    value = model.dispatch(op, list(args))
    if inspect.iscoroutine(value):
        value.close()
        raise AssertionError(f"{op} blocked")
    return value


async def call_async(model: BoardModel, op: str, *args: Any) -> Any:
    value = model.dispatch(op, list(args))
    return await value if inspect.isawaitable(value) else value


def raises(model: BoardModel, op: str, *args: Any) -> tuple[str, object]:
    with pytest.raises(MicroPythonError) as info:
        call(model, op, *args)
    return info.value.exc_type, info.value.arg


def i2c(model: BoardModel, *args: Any, **kwargs: Any) -> int:
    handle: int = call(model, "i2c_init", list(args), kwargs)[0]
    return handle


def soft_i2c(model: BoardModel, *args: Any, **kwargs: Any) -> int:
    handle: int = call(model, "softi2c_init", list(args), kwargs)
    return handle


class FirstByteOnly(RegisterTarget):
    """A chip that ACKs the register pointer and NACKs every data byte after it."""

    def write(self, data: bytes, t: float) -> int:
        super().write(data[:1], t)
        return min(len(data), 1)


class Recorder(RegisterTarget):
    def __init__(self, address: int) -> None:
        super().__init__(address)
        self.writes: list[bytes] = []

    def write(self, data: bytes, t: float) -> int:
        self.writes.append(bytes(data))
        return super().write(data, t)


# ---------------------------------------------------------------------------------------------- I2C
def test_rp2_i2c_constructor_ids_pins_and_repr(pico: BoardModel) -> None:
    """ports/rp2/machine_i2c.c: machine_i2c_make_new, IS_VALID_SCL/SDA, i2c_set_baudrate in the repr."""
    assert call(pico, "i2c_init", [], {}) == [0, False, None]  # PICO_DEFAULT_I2C
    assert call(pico, "i2c_repr", 0) == "I2C(0, freq=399361, scl=5, sda=4, timeout=50000)"
    i2c(pico, 1, 100_000)  # freq is the second positional argument
    assert call(pico, "i2c_repr", 1) == "I2C(1, freq=100000, scl=7, sda=6, timeout=50000)"
    i2c(pico, 1)  # no arguments: the singleton keeps its settings
    assert call(pico, "i2c_repr", 1) == "I2C(1, freq=100000, scl=7, sda=6, timeout=50000)"
    assert pico.pin_mode(4) == "ALT" and pico.pin_mode(5) == "ALT"
    assert call(pico, "pin_repr", 4) == "Pin(GPIO4, mode=ALT, pull=PULL_UP, alt=3)"
    assert raises(pico, "i2c_init", [0], {"scl": 4}) == ("ValueError", "bad SCL pin")
    assert raises(pico, "i2c_init", [0], {"sda": 5}) == ("ValueError", "bad SDA pin")
    assert raises(pico, "i2c_init", [1], {"scl": 5}) == ("ValueError", "bad SCL pin")  # an I2C0 pin
    assert raises(pico, "i2c_init", [2], {}) == ("ValueError", "I2C(2) doesn't exist")
    assert raises(pico, "i2c_init", [-1], {}) == ("ValueError", "I2C(-1) doesn't exist")  # no legacy SoftI2C
    assert raises(pico, "i2c_init", [0], {"scl": "LED"}) == ("ValueError", "expecting a regular GPIO Pin")
    assert raises(pico, "i2c_init", [0], {"scl": 31}) == ("ValueError", "invalid pin")
    assert raises(pico, "i2c_init", [0, 400_000, 5], {}) == ("TypeError", "extra positional arguments given")
    assert raises(pico, "i2c_init", [0], {"speed": 1}) == ("TypeError", "extra keyword arguments given")
    assert raises(pico, "i2c_init", [0], {"freq": 1.5}) == ("TypeError", "can't convert float to int")
    assert raises(pico, "i2c_init", ["0"], {}) == ("TypeError", "can't convert str to int")


def test_rp2_i2c_clock_follows_machine_freq(pico: BoardModel) -> None:
    """ports/rp2/machine_i2c.c: the repr's freq is what i2c_set_baudrate got from clk_sys."""
    call(pico, "freq", 133_000_000)
    i2c(pico, 0, 400_000)
    assert call(pico, "i2c_repr", 0).startswith("I2C(0, freq=399399,")


def test_i2c_on_a_wireless_chip_pin_is_a_hazard(pico: BoardModel) -> None:
    """ports/rp2/machine_i2c.c: GP29 is a legal I2C0 SCL, but the Pico W's CYW43 owns it."""
    i2c(pico, 0, scl=29, sda=28)
    assert [h.pin for h in pico.hazards] == [29]
    assert "I2C(0) SCL" in pico.hazards[0].message and "WL_CLK" in pico.hazards[0].message


def test_esp32_i2c_constructor_ids_pins_and_repr(esp: BoardModel) -> None:
    """ports/esp32/machine_i2c.c: machine_hw_i2c_make_new (id required, everything else keyword-only)."""
    assert i2c(esp, 0) == 0
    assert call(esp, "i2c_repr", 0) == "I2C(0, scl=18, sda=19, freq=400000)"
    i2c(esp, 1, scl=22, sda=21, freq=100_000)
    assert call(esp, "i2c_repr", 1) == "I2C(1, scl=22, sda=21, freq=100000)"
    assert raises(esp, "i2c_init", [2], {}) == ("ValueError", "I2C(2) doesn't exist")
    assert raises(esp, "i2c_init", [0], {"scl": 40}) == ("ValueError", "invalid pin")
    assert raises(esp, "i2c_init", [0], {"scl": "LED"}) == ("ValueError", "invalid pin")
    assert raises(esp, "i2c_init", [0, 400_000], {}) == ("TypeError", "extra positional arguments given")
    # MP_MACHINE_I2C_CHECK_FOR_LEGACY_SOFTI2C_CONSTRUCTION: I2C() and I2C(-1, ...) are SoftI2C.
    assert raises(esp, "i2c_init", [], {}) == ("TypeError", "'scl' argument required")
    handle, soft, warning = call(esp, "i2c_init", [-1], {"scl": 18, "sda": 19})
    assert soft and warning == "Warning: I2C(-1, ...) is deprecated, use SoftI2C(...) instead"
    assert call(esp, "i2c_repr", handle) == "SoftI2C(scl=18, sda=19, freq=500000)"


def test_softi2c_constructor_and_repr(pico: BoardModel) -> None:
    """extmod/machine_i2c.c: SoftI2C(scl, sda, *, freq=400000, timeout=50000); us_delay = 500000 // freq."""
    h = soft_i2c(pico, 5, 4)
    assert call(pico, "i2c_repr", h) == "SoftI2C(scl=5, sda=4, freq=500000)"
    assert soft_i2c(pico, scl=5, sda=4) == h  # same pins and settings: the same controller
    assert call(pico, "i2c_repr", soft_i2c(pico, 5, 4, freq=100_000)) == "SoftI2C(scl=5, sda=4, freq=100000)"
    assert pico.pin_mode(5) == "OPEN_DRAIN"
    assert raises(pico, "softi2c_init", [5], {}) == ("TypeError", "'sda' argument required")
    assert raises(pico, "softi2c_init", [5, 4, 100_000], {}) == ("TypeError", "extra positional arguments given")
    assert raises(pico, "softi2c_init", ["LED", 4], {}) == ("ValueError", "expecting a regular GPIO Pin")


@pytest.mark.parametrize(("profile", "kind", "data_errno", "probe_errno", "data_nack"), [
    (PICO_W, "hw", EIO, ENODEV, "short"),
    (ESP32, "hw", ENODEV, ENODEV, "raises"),
    (PICO_W, "soft", ENODEV, ENODEV, "short"),
    (ESP32, "soft", ENODEV, ENODEV, "short"),
])
def test_a_missing_device_nacks_with_the_ports_errno(clock: ManualClock, profile: BoardProfile, kind: str,
                                                    data_errno: int, probe_errno: int, data_nack: str) -> None:
    """ports/rp2/machine_i2c.c (EIO; zero-length writes via SoftI2C: ENODEV), ports/esp32/machine_i2c.c
    (ESP_FAIL -> ENODEV, every byte checked), extmod/machine_i2c.c (SoftI2C: ENODEV, ACK count)."""
    model = board(profile, clock)
    scl, sda = (5, 4) if profile is PICO_W else (18, 19)
    model.attach_i2c(FirstByteOnly(0x40), sda=sda, scl=scl)
    h = i2c(model, 0) if kind == "hw" else soft_i2c(model, scl, sda)
    assert call(model, "i2c_scan", h) == [0x40]
    assert raises(model, "i2c_readfrom", h, 0x41, 2) == ("OSError", data_errno)
    assert raises(model, "i2c_writeto", h, 0x41, "00") == ("OSError", data_errno)
    assert raises(model, "i2c_readfrom_mem", h, 0x41, 0, 2) == ("OSError", data_errno)
    assert raises(model, "i2c_writeto", h, 0x41, "") == ("OSError", probe_errno)
    assert raises(model, "i2c_writevto", h, 0x41, ["", ""]) == ("OSError", probe_errno)
    assert call(model, "i2c_writeto", h, 0x40, "") == 0  # an address probe that ACKs
    if data_nack == "short":
        assert call(model, "i2c_writeto", h, 0x40, "0011") == 1
    else:
        assert raises(model, "i2c_writeto", h, 0x40, "0011") == ("OSError", ENODEV)


def test_rp2_readfrom_mem_with_a_nacked_memaddr_returns_an_unfilled_buffer(pico: BoardModel) -> None:
    """extmod/machine_i2c.c read_mem without transfer_supports_write1: a short memaddr write is no error."""

    class NoPointer(RegisterTarget):
        def write(self, data: bytes, t: float) -> int:
            return 0

    pico.attach_i2c(NoPointer(0x40), sda=4, scl=5)
    assert call(pico, "i2c_readfrom_mem", i2c(pico, 0), 0x40, 0, 3) == "000000"
    esp = board(ESP32, ManualClock())
    esp.attach_i2c(NoPointer(0x40), sda=19, scl=18)
    assert raises(esp, "i2c_readfrom_mem", i2c(esp, 0), 0x40, 0, 3) == ("OSError", ENODEV)


def test_memory_operations_send_the_address_msb_first(pico: BoardModel) -> None:
    """extmod/machine_i2c.c fill_memaddr_buf: addrsize a multiple of 8 up to 32, else invalid addrsize."""
    chip = pico.attach_i2c(Recorder(0x50), sda=4, scl=5)
    assert isinstance(chip, Recorder)
    h = i2c(pico, 0)
    assert call(pico, "i2c_writeto_mem", h, 0x50, 0x1234, "ab", 16) is None
    assert chip.writes[-1] == b"\x12\x34\xab"
    chip.registers[0x10:0x13] = b"\x01\x02\x03"
    assert call(pico, "i2c_readfrom_mem", h, 0x50, 0x10, 3) == "010203"
    assert chip.writes[-1] == b"\x10"
    assert call(pico, "i2c_writevto", h, 0x50, ["20", "", "aabb"]) == 3
    assert chip.registers[0x20:0x22] == b"\xaa\xbb"
    assert raises(pico, "i2c_readfrom_mem", h, 0x50, 0, 2, 12) == ("ValueError", "invalid addrsize")
    assert raises(pico, "i2c_writeto_mem", h, 0x50, 0, "00", 40) == ("ValueError", "invalid addrsize")


@pytest.mark.parametrize(("profile", "etimedout"), [(PICO_W, 110), (ESP32, 116)])
async def test_a_bus_held_low_times_out_with_the_ports_etimedout(clock: ManualClock, profile: BoardProfile,
                                                                 etimedout: int) -> None:
    """ports/rp2/machine_i2c.c (PICO_ERROR_TIMEOUT -> ETIMEDOUT), ports/esp32/machine_i2c.c
    (ESP_ERR_TIMEOUT), errno numbering from mpconfigport.h; scan swallows each probe's error."""
    model = board(profile, clock)
    model.attach_i2c(RegisterTarget(0x40), sda=4, scl=5)
    model.i2c_bus(sda="GP4" if profile is PICO_W else 4, scl=5).held_low = True
    h = soft_i2c(model, 5, 4, timeout=20_000)
    start = clock.now()
    with pytest.raises(MicroPythonError) as info:
        await call_async(model, "i2c_readfrom_mem", h, 0x40, 0, 2)
    assert (info.value.exc_type, info.value.arg) == ("OSError", etimedout)
    assert clock.now() - start == pytest.approx(0.02)
    with pytest.raises(MicroPythonError, match=str(etimedout)):
        await call_async(model, "i2c_start", h)
    start = clock.now()
    assert await call_async(model, "i2c_scan", h) == []
    assert clock.now() - start == pytest.approx(112 * 0.02)


def test_softi2c_reaches_the_targets_wired_to_the_same_pins(pico: BoardModel) -> None:
    """A bus is its SDA/SCL pins: I2C(0) and a SoftI2C on GP4/GP5 see one target; other pins see none."""
    chip = RegisterTarget(0x40)
    pico.attach_i2c(chip, sda="GP4", scl="GP5")
    assert pico.i2c_bus(sda=4, scl=5).target(0x40) is chip
    assert call(pico, "i2c_scan", i2c(pico, 0)) == [0x40]
    assert call(pico, "i2c_scan", soft_i2c(pico, 5, 4)) == [0x40]
    assert call(pico, "i2c_scan", soft_i2c(pico, 15, 14)) == []  # nothing wired there: an empty bus
    assert raises(pico, "i2c_readfrom", soft_i2c(pico, 15, 14), 0x40, 1) == ("OSError", ENODEV)


def test_softi2c_primitives_and_their_absence_on_hardware_i2c(pico: BoardModel) -> None:
    """extmod/machine_i2c.c: SoftI2C start/stop/readinto/write; hardware I2C has no such protocol entries."""
    chip = RegisterTarget(0x40)
    chip.registers[2:4] = b"\x34\x56"
    pico.attach_i2c(chip, sda=4, scl=5)
    h = soft_i2c(pico, 5, 4)
    call(pico, "i2c_start", h)
    assert call(pico, "i2c_write", h, "8002") == 2  # address+W, register pointer
    call(pico, "i2c_start", h)  # repeated START
    assert call(pico, "i2c_write", h, "81") == 1
    assert call(pico, "i2c_readinto", h, 2, True) == "3456"
    call(pico, "i2c_stop", h)
    call(pico, "i2c_start", h)
    assert call(pico, "i2c_write", h, "a0ff") == 0  # nobody at 0x50
    call(pico, "i2c_stop", h)
    hw = i2c(pico, 0)
    for op, args in (("i2c_start", ()), ("i2c_stop", ()), ("i2c_write", ("00",)), ("i2c_readinto", (1,))):
        assert raises(pico, op, hw, *args) == ("OSError", "I2C operation not supported")
    assert raises(pico, "i2c_reinit", hw, [], {}) == ("OSError", "I2C operation not supported")


def test_i2c_controllers_vanish_on_reboot_but_the_wiring_stays(pico: BoardModel) -> None:
    chip = pico.attach_i2c(RegisterTarget(0x40), sda=4, scl=5)
    h = i2c(pico, 0)
    pico.power_on()
    assert raises(pico, "i2c_scan", h)[0] == "OSError"
    assert pico.i2c_bus(sda=4, scl=5).target(0x40) is chip


# ---------------------------------------------------------------------------------------------- SPI
class Inverter(SpiDevice):
    def __init__(self, cs_pin: int, xor: int = 0xFF) -> None:
        super().__init__(cs_pin)
        self.xor = xor
        self.edges: list[str] = []
        self.seen: list[bytes] = []

    def select(self, t: float) -> None:
        self.edges.append("select")

    def deselect(self, t: float) -> None:
        self.edges.append("deselect")

    def transfer(self, mosi: bytes, t: float) -> bytes:
        self.seen.append(bytes(mosi))
        return bytes(b ^ self.xor for b in mosi)


def spi(model: BoardModel, *args: Any, **kwargs: Any) -> int:
    handle: int = call(model, "spi_init", list(args), kwargs)[0]
    return handle


def test_rp2_spi_constructor_ids_pins_and_repr(pico: BoardModel) -> None:
    """ports/rp2/machine_spi.c: machine_spi_make_new, IS_VALID_SCK/MOSI/MISO, spi_set_baudrate, LSB."""
    assert spi(pico, 0) == 0
    assert call(pico, "spi_repr", 0) == "SPI(0, baudrate=992063, polarity=0, phase=0, bits=8, sck=18, mosi=19, miso=16)"
    spi(pico, 1, 500_000, sck=14, mosi=15, miso=12, polarity=1)
    assert call(pico, "spi_repr", 1) == "SPI(1, baudrate=500000, polarity=1, phase=0, bits=8, sck=14, mosi=15, miso=12)"
    assert pico.pin_mode(14) == "ALT"
    assert raises(pico, "spi_init", [], {}) == ("TypeError", "'id' argument required")
    assert raises(pico, "spi_init", [2], {}) == ("ValueError", "SPI(2) doesn't exist")
    assert raises(pico, "spi_init", [0], {"sck": 17}) == ("ValueError", "bad SCK pin")
    assert raises(pico, "spi_init", [0], {"mosi": 18}) == ("ValueError", "bad MOSI pin")
    assert raises(pico, "spi_init", [0], {"miso": 8}) == ("ValueError", "bad MISO pin")  # an SPI1 pin
    assert raises(pico, "spi_init", [0], {"firstbit": 0}) == ("NotImplementedError", "LSB")  # SPI.LSB = 0
    assert raises(pico, "spi_reinit", 0, [], {"firstbit": 0}) == ("NotImplementedError", "LSB")
    assert raises(pico, "spi_reinit", 0, [1_000_000], {}) == ("TypeError", "extra positional arguments given")
    call(pico, "spi_reinit", 0, [], {"baudrate": 2_000_000, "phase": 1})
    assert call(pico, "spi_repr", 0).startswith("SPI(0, baudrate=1953125, polarity=0, phase=1,")


def test_esp32_spi_constructor_ids_pins_and_repr(esp: BoardModel) -> None:
    """ports/esp32/machine_hw_spi.c: ids 1 and 2, any GPIO, None for an unused pin, deinit."""
    assert spi(esp, 1) == 1
    assert call(esp, "spi_repr", 1) == ("SPI(id=1, baudrate=500000, polarity=0, phase=0, bits=8, firstbit=0, "
                                        "sck=14, mosi=13, miso=12)")
    spi(esp, 2, 1_000_000, sck=18, mosi=23, miso=None, firstbit=1)
    assert call(esp, "spi_repr", 2) == ("SPI(id=2, baudrate=1000000, polarity=0, phase=0, bits=8, firstbit=1, "
                                        "sck=18, mosi=23, miso=-1)")
    assert raises(esp, "spi_init", [0], {}) == ("ValueError", "SPI(0) doesn't exist")
    assert raises(esp, "spi_init", [3], {}) == ("ValueError", "SPI(3) doesn't exist")
    assert raises(esp, "spi_init", [1], {"sck": 40}) == ("ValueError", "invalid pin")
    call(esp, "spi_deinit", 1)
    assert raises(esp, "spi_transfer", 1, "00") == ("OSError", "transfer on deinitialized SPI")
    handle, soft, warning = call(esp, "spi_init", [-1], {"sck": 18, "mosi": 23, "miso": 19})
    assert soft and warning == "Warning: SPI(-1, ...) is deprecated, use SoftSPI(...) instead"
    assert call(esp, "spi_repr", handle) == "SoftSPI(baudrate=500000, polarity=0, phase=0, sck=18, mosi=23, miso=19)"


def test_softspi_constructor_errors_and_rounded_clock(pico: BoardModel) -> None:
    """extmod/machine_spi.c mp_machine_soft_spi_make_new: bits 8, MSB only, all three pins; delay rounded up."""
    h = call(pico, "softspi_init", [300_000], {"sck": 2, "mosi": 3, "miso": 0})
    assert call(pico, "spi_repr", h) == "SoftSPI(baudrate=250000, polarity=0, phase=0, sck=2, mosi=3, miso=0)"
    assert pico.pin_mode(2) == "OUT" and pico.pin_mode(0) == "IN"
    pins = {"sck": 2, "mosi": 3, "miso": 0}
    assert raises(pico, "softspi_init", [], {**pins, "bits": 7}) == ("ValueError", "bits must be 8")
    assert raises(pico, "softspi_init", [], {**pins, "firstbit": 0}) == ("ValueError", "firstbit must be MSB")
    assert raises(pico, "softspi_init", [], {"sck": 2, "mosi": 3}) == ("ValueError",
                                                                      "must specify all of sck/mosi/miso")


def test_spi_transfers_reach_the_device_whose_chip_select_is_low(pico: BoardModel) -> None:
    """The CS line is a GPIO the firmware drives (rp2 SPI manages none): transfers go to the selected device."""
    a = pico.attach_spi(Inverter(17), sck=18, mosi=19, miso=16)
    b = pico.attach_spi(Inverter(20, xor=0x0F), sck="GP18", mosi="GP19", miso="GP16")
    assert isinstance(a, Inverter) and isinstance(b, Inverter)
    h = spi(pico, 0)
    call(pico, "pin_init", 17, True, 1, None, 1)
    call(pico, "pin_init", 20, True, 1, None, 1)
    assert a.edges == b.edges == ["deselect"]  # an unconfigured GPIO idles low (pull-down): selected
    a.edges.clear()
    b.edges.clear()
    assert call(pico, "spi_transfer", h, "0102", True) == "ffff"  # nobody selected: MISO idles high
    call(pico, "pin_value", 17, 0)
    assert call(pico, "spi_transfer", h, "0102", True) == "fefd"
    assert call(pico, "spi_transfer", h, "aa", False) is None
    call(pico, "pin_value", 17, 1)
    call(pico, "pin_toggle", 20)
    assert call(pico, "spi_transfer", h, "f0", True) == "ff"
    assert a.seen == [b"\x01\x02", b"\xaa"] and b.seen == [b"\xf0"]
    assert a.edges == ["select", "deselect"] and b.edges == ["select"]


def test_esp32_lsb_first_reverses_the_bits_the_device_sees(esp: BoardModel) -> None:
    """ports/esp32/machine_hw_spi.c: SPI_DEVICE_TXBIT/RXBIT_LSBFIRST; SPI.LSB is 1 on esp32."""
    dev = esp.attach_spi(Inverter(5, xor=0), sck=14, mosi=13, miso=12)
    assert isinstance(dev, Inverter)
    call(esp, "pin_init", 5, True, 1, None, 0)
    h = spi(esp, 1, firstbit=1)
    assert call(esp, "spi_transfer", h, "01", True) == "01"  # echoed: reversed there and back
    assert dev.seen == [b"\x80"]


# ---------------------------------------------------------------------------------------------- UART
class Scripted(UartDevice):
    """Answers every line with ``ECHO <line>\\r\\n``; records what arrived when."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list[tuple[float, bytes]] = []
        self._line = b""

    def receive(self, data: bytes, t: float) -> None:
        self.got.append((t, data))
        self._line += data
        while b"\n" in self._line:
            line, self._line = self._line.split(b"\n", 1)
            self.send(b"ECHO " + line + b"\r\n")


def uart(model: BoardModel, *args: Any, **kwargs: Any) -> int:
    handle: int = call(model, "uart_init", list(args), kwargs)
    return handle


def test_rp2_uart_constructor_pins_errors_and_repr(pico: BoardModel) -> None:
    """ports/rp2/machine_uart.c: make_new/init_helper, IS_VALID_TX/RX/CTS/RTS, buffer sizes, timeout_char."""
    assert uart(pico, 0) == 0
    assert call(pico, "uart_repr", 0) == ("UART(0, baudrate=115200, bits=8, parity=None, stop=1, tx=0, rx=1, "
                                          "txbuf=256, rxbuf=256, timeout=0, timeout_char=1, invert=None)")
    uart(pico, 1, 9600, 7, 1, 2, tx=8, rx=9, rxbuf=10, invert=3)
    assert call(pico, "uart_repr", 1) == ("UART(1, baudrate=9600, bits=7, parity=1, stop=2, tx=8, rx=9, "
                                          "txbuf=256, rxbuf=32, timeout=0, timeout_char=2, invert=INV_TX|INV_RX)")
    uart(pico, 1)  # the singleton keeps its settings
    assert "baudrate=9600, bits=7" in call(pico, "uart_repr", 1)
    assert raises(pico, "uart_init", [2], {}) == ("ValueError", "UART(2) doesn't exist")
    assert raises(pico, "uart_init", [0], {"tx": 1}) == ("ValueError", "bad TX pin")
    assert raises(pico, "uart_init", [0], {"rx": 5}) == ("ValueError", "bad RX pin")  # a UART1 pin
    assert raises(pico, "uart_init", [0], {"cts": 3}) == ("ValueError", "bad CTS pin")
    assert raises(pico, "uart_init", [0], {"invert": 4}) == ("ValueError", "bad inversion mask")
    assert raises(pico, "uart_init", [0], {"flow": 4}) == ("ValueError", "bad hardware flow control mask")
    assert raises(pico, "uart_init", [0], {"txbuf": 40_000}) == ("ValueError", "txbuf too large")
    assert raises(pico, "uart_init", [], {}) == ("TypeError", "'id' argument required")
    assert pico.pin_mode(8) == "ALT"


def test_esp32_uart_constructor_pins_errors_and_repr(esp: BoardModel) -> None:
    """ports/esp32/machine_uart.c: a new object per call, "does not exist", ESP-IDF's actual baud rate."""
    uart(esp, 2, 115_200, parity=0, tx=4, rx=5, flow=3, invert=32)
    assert call(esp, "uart_repr", 2) == ("UART(2, baudrate=115201, bits=8, parity=0, stop=1, tx=4, rx=5, rts=-1, "
                                         "cts=-1, txbuf=256, rxbuf=256, timeout=0, timeout_char=0, invert=INV_TX, "
                                         "flow=RTS|CTS)")
    uart(esp, 2)  # a new object: the driver starts from its defaults again, on the default pins
    assert "baudrate=115201, bits=8, parity=None, stop=1, tx=17, rx=16" in call(esp, "uart_repr", 2)
    assert "tx=-1, rx=-1" in call(esp, "uart_repr", uart(esp, 0))  # the REPL's UART keeps its pins
    assert raises(esp, "uart_init", [3], {}) == ("ValueError", "UART(3) does not exist")
    assert raises(esp, "uart_init", [], {}) == ("TypeError", "function missing 1 required positional arguments")
    assert raises(esp, "uart_init", [1], {"bits": 9, "tx": 4, "rx": 5}) == ("ValueError", "invalid data bits")
    assert raises(esp, "uart_init", [1], {"stop": 3, "tx": 4, "rx": 5}) == ("ValueError", "invalid stop bits")
    assert raises(esp, "uart_init", [1], {"invert": 1}) == ("ValueError", "invalid inversion mask")
    assert raises(esp, "uart_init", [1], {"flow": 4}) == ("ValueError", "invalid flow control mask")
    assert raises(esp, "uart_init", [0], {"rxbuf": 512}) == ("ValueError", "UART buffer size is fixed")


def test_esp32_uart1_on_its_default_pins_drives_the_flash(esp: BoardModel) -> None:
    """ports/esp32/machine_uart.c: UART1 defaults to RX 9 / TX 10, the WROOM module's SPI flash."""
    uart(esp, 1)
    assert {h.pin for h in esp.hazards} == {9, 10}


async def test_received_bytes_arrive_no_faster_than_the_baud_rate(pico: BoardModel, clock: ManualClock) -> None:
    """ports/rp2/machine_uart.c machine_uart_read: with timeout 0 a read still waits timeout_char per byte."""
    dev = pico.attach_uart(UartDevice(), tx=0, rx=1)
    h = uart(pico, 0, 9600)
    char = 10 / 9600
    call(pico, "uart_any", h)  # the line is looked at now: what the device sends starts here
    dev.send(b"0123456789")
    assert call(pico, "uart_any", h) == 0
    clock.advance(4.5 * char)
    assert call(pico, "uart_any", h) == 4
    assert call(pico, "uart_read", h, 3) == b"012".hex()  # there already: no wait
    # The next bytes come 1.04 ms apart, within timeout_char (2 ms at 9600): the read takes them all.
    assert await call_async(pico, "uart_read", h, 100) == b"3456789".hex()
    assert clock.now() == pytest.approx(10 * char + 0.002)
    assert call(pico, "uart_read", h, 100) is None  # nothing: None, never b""


async def test_a_read_timeout_returns_none_after_the_timeout(pico: BoardModel, clock: ManualClock) -> None:
    """py/stream.c: EAGAIN with nothing read is None; the wait is the UART's timeout, in lab time."""
    h = uart(pico, 0, timeout=100)
    start = clock.now()
    assert await call_async(pico, "uart_read", h, 4) is None
    assert clock.now() - start == pytest.approx(0.1)
    assert await call_async(pico, "uart_readline", h) is None


@pytest.mark.parametrize("profile", [PICO_W, ESP32])
async def test_rp2_stops_at_a_gap_while_esp32_waits_out_the_timeout(clock: ManualClock,
                                                                    profile: BoardProfile) -> None:
    """ports/rp2/machine_uart.c machine_uart_read (timeout, then timeout_char between bytes) versus
    ports/esp32/machine_uart.c (uart_read_bytes: the whole request within timeout)."""
    model = board(profile, clock)
    tx, rx = (0, 1) if profile is PICO_W else (4, 5)
    dev = model.attach_uart(UartDevice(), tx=tx, rx=rx)
    h = uart(model, 0 if profile is PICO_W else 2, 115_200, timeout=1000, tx=tx, rx=rx)
    call(model, "uart_any", h)
    dev.send(b"ab")
    start = clock.now()
    assert await call_async(model, "uart_read", h, 10) == b"ab".hex()
    waited = clock.now() - start
    if profile is PICO_W:
        assert waited == pytest.approx(2 * 10 / 115_200 + 0.001, abs=0.0011)  # timeout_char is 1 ms
    else:
        assert waited == pytest.approx(1.0)


def test_readline_with_no_timeout_returns_what_has_arrived(pico: BoardModel, clock: ManualClock) -> None:
    """py/stream.c mp_stream_unbuffered_readline: a timeout after some bytes returns the partial line."""
    dev = pico.attach_uart(UartDevice(), tx=0, rx=1)
    h = uart(pico, 0, 9600)
    call(pico, "uart_any", h)
    dev.send(b"OK\r\nNEXT\n")
    clock.advance(2.5 * 10 / 9600)
    assert call(pico, "uart_readline", h) == b"OK".hex()
    clock.advance(7 * 10 / 9600)
    assert call(pico, "uart_readline", h) == b"\r\n".hex()
    assert call(pico, "uart_readline", h, 3) == b"NEX".hex()
    assert call(pico, "uart_readline", h) == b"T\n".hex()


def test_bytes_arriving_at_a_full_rx_buffer_are_lost(pico: BoardModel, clock: ManualClock) -> None:
    """ports/rp2/machine_uart.c: ringbuf_put fails silently when the RX ring (plus the 32-byte FIFO) is full."""
    dev = pico.attach_uart(UartDevice(), tx=0, rx=1)
    h = uart(pico, 0, 115_200, rxbuf=32)
    call(pico, "uart_any", h)
    dev.send(bytes(range(100)))
    clock.advance(1.0)
    assert call(pico, "uart_any", h) == 64
    assert pico.uart.line(0).overflowed == 36
    assert call(pico, "uart_read", h, 64) == bytes(range(64)).hex()


async def test_writes_block_until_the_tx_buffer_has_room_and_reach_the_device_in_time(
        pico: BoardModel, clock: ManualClock) -> None:
    """ports/rp2/machine_uart.c machine_uart_write: 256-byte ring plus 32-byte FIFO, then it waits."""
    dev = pico.attach_uart(Scripted(), tx=0, rx=1)
    assert isinstance(dev, Scripted)
    h = uart(pico, 0, 9600)
    char = 10 / 9600
    assert call(pico, "uart_write", h, b"hi\n".hex()) == 3
    assert call(pico, "uart_txdone", h) is False
    assert await call_async(pico, "uart_flush", h) is None
    assert clock.now() == pytest.approx(3 * char)
    assert call(pico, "uart_txdone", h) is True
    assert dev.got == [(pytest.approx(3 * char), b"hi\n")]  # the device hears it when the last bit is in
    start = clock.now()
    assert await call_async(pico, "uart_write", h, bytes(400).hex()) == 400
    assert clock.now() - start == pytest.approx((400 - 288) * char)
    clock.advance(1.0)
    assert call(pico, "uart_read", h, 9) == b"ECHO hi\r\n".hex()


async def test_an_answer_is_timed_after_the_request(pico: BoardModel, clock: ManualClock) -> None:
    """A device that answers from receive() answers once the request has fully arrived."""
    pico.attach_uart(Scripted(), tx=0, rx=1)
    h = uart(pico, 0, 115_200, timeout=500)
    char = 10 / 115_200
    call(pico, "uart_write", h, b"ping\n".hex())
    assert await call_async(pico, "uart_readline", h) == b"ECHO ping\r\n".hex()
    assert clock.now() == pytest.approx((5 + 11) * char)


async def test_the_doorbell_rings_when_bytes_arrive(pico: BoardModel, clock: ManualClock) -> None:
    """The asyncio seam: a doorbell rings while received bytes wait, and again after a read leaves some."""
    dev = pico.attach_uart(UartDevice(), tx=0, rx=1)
    h = uart(pico, 0, 115_200)
    rings = asyncio.Queue[None]()
    watcher = asyncio.create_task(pico.uart.serve_doorbell(h, lambda: rings.put_nowait(None)))
    try:
        dev.send(b"abc")
        clock.advance(1.0)
        await asyncio.wait_for(rings.get(), 5)
        assert call(pico, "uart_read", h, 1) == "61"
        await asyncio.wait_for(rings.get(), 5)  # two bytes still wait
        assert await call_async(pico, "uart_read", h, 5) == "6263"
        dev.send(b"d")
        clock.advance(1.0)
        await asyncio.wait_for(rings.get(), 5)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


async def test_a_doorbell_connection_needs_the_token_and_rings_on_arrival(pico: BoardModel,
                                                                         clock: ManualClock) -> None:
    """docs/hardware-bus.md: a hello naming a UART opens its doorbell; the host writes a byte when bytes wait."""
    dev = pico.attach_uart(UartDevice(), tx=0, rx=1)
    h = uart(pico, 0)
    async with HardwareBus(pico) as bus:
        host, port = bus.address
        for token, expected in (("nope", [0, "OSError", "labtwin hwbus: bad token"]), (bus.token, [1, None])):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(json.dumps(["hello", PROTOCOL_VERSION, token, "uart_doorbell", h]).encode() + b"\n")
                assert json.loads(await reader.readline()) == expected
                if expected[0]:
                    dev.send(b"x")
                    clock.advance(1.0)
                    assert await asyncio.wait_for(reader.readexactly(1), 5) == b"!"
            finally:
                writer.close()
                await writer.wait_closed()
