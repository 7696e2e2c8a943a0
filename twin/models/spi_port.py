"""SPI as each MicroPython port implements it: ids, default and legal pins, clocks, repr, constants.

Sources: ``ports/rp2/machine_spi.c`` (``machine_spi_make_new``: ids 0/1, ``bad SCK/MOSI/MISO pin``,
``NotImplementedError("LSB")``, the pico-sdk ``spi_set_baudrate`` result in the repr),
``ports/esp32/machine_hw_spi.c`` (ids 1/2 = SPI2/SPI3, any GPIO, ``None`` for an unused pin, the
clock ESP-IDF actually sets, ``transfer on deinitialized SPI``), ``extmod/machine_spi.c``
(SoftSPI: ``bits must be 8``, ``firstbit must be MSB``, ``must specify all of sck/mosi/miso``,
the half-period delay rounded up). ``SPI.MSB``/``SPI.LSB`` are 1/0 on rp2 (pico-sdk
``SPI_MSB_FIRST``) and 0/1 on esp32.

The chip-select line is not the controller's: :class:`SpiController` transfers to whichever
:class:`~labtwin.twin.parts.spi.SpiDevice` on its pins has its CS pin low at that moment.
Devices are taken to shift MSB first; a controller set to LSB first exchanges bit-reversed bytes
with them. Polarity and phase are reported, not checked against the device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from labtwin.twin.parts.spi import SpiDevice

__all__ = ["ESP32_SPI", "RP2_SPI", "SPI_PORTS", "SpiController", "SpiPortRules", "esp32_spi_clock",
           "rp2_spi_clock", "soft_delay_half"]


@dataclass(frozen=True)
class SpiPortRules:
    """What one port's hardware ``machine.SPI`` does.

    Attributes:
        port: ``"rp2"`` or ``"esp32"``.
        ids: the hardware ids.
        default_pins: id -> ``(sck, mosi, miso)``.
        default_baudrate: ``baudrate`` when not given.
        msb: the value of ``SPI.MSB``.
        lsb: the value of ``SPI.LSB``.
    """

    port: str
    ids: tuple[int, ...]
    default_pins: Mapping[int, tuple[int, int, int]]
    default_baudrate: int
    msb: int
    lsb: int


RP2_SPI = SpiPortRules("rp2", (0, 1), {0: (18, 19, 16), 1: (10, 11, 8)}, 1_000_000, msb=1, lsb=0)
"""rp2 (Pico W): SPI0 defaults to GP18/19/16 (``PICO_DEFAULT_SPI_*``), SPI1 to GP10/11/8."""

ESP32_SPI = SpiPortRules("esp32", (1, 2), {1: (14, 13, 12), 2: (18, 23, 19)}, 500_000, msb=0, lsb=1)
"""esp32: SPI(1) (HSPI) on 14/13/12, SPI(2) (VSPI) on 18/23/19, the IO_MUX pins."""

SPI_PORTS = {"rp2": RP2_SPI, "esp32": ESP32_SPI}


def rp2_spi_clock(baudrate: int, peri_hz: int) -> int:
    """pico-sdk ``spi_set_baudrate``: an even prescale 2..254 and a post-divider 1..256 of ``clk_peri``."""
    baudrate = max(baudrate, 1)
    prescale = 2
    while prescale <= 254 and peri_hz >= (prescale + 2) * 256 * baudrate:
        prescale += 2
    prescale = min(prescale, 254)
    postdiv = 256
    while postdiv > 1 and peri_hz // (prescale * (postdiv - 1)) <= baudrate:
        postdiv -= 1
    return peri_hz // (prescale * postdiv)


def esp32_spi_clock(baudrate: int, apb_hz: int = 80_000_000) -> int:
    """ESP-IDF ``spi_ll_master_cal_clock``: APB itself above 3/4 of it, else the best ``pre * n`` divider."""
    hz = max(baudrate, 1)
    if hz > apb_hz // 4 * 3:
        return apb_hz
    best_n, best_pre, best_err = -1, -1, 0
    for n in range(2, 65):
        pre = min(max((apb_hz // n + hz // 2) // hz, 1), 8192)
        err = abs(apb_hz // (pre * n) - hz)
        if best_n == -1 or err <= best_err:
            best_n, best_pre, best_err = n, pre, err
    return apb_hz // (best_pre * best_n)


def soft_delay_half(baudrate: int, max_baudrate: int | None) -> int:
    """SoftSPI's half-period delay in microseconds, rounded up so the clock never exceeds ``baudrate``.

    ``max_baudrate`` is the port's ``MICROPY_HW_SOFTSPI_MAX_BAUDRATE`` (esp32: delay 0 at or above it).
    """
    if max_baudrate is not None and baudrate >= max_baudrate:
        return 0
    baudrate = max(baudrate, 1)
    return 500_000 // baudrate + (1 if 500_000 % baudrate else 0)


def _reverse_bits(data: bytes) -> bytes:
    return bytes(int(f"{b:08b}"[::-1], 2) for b in data)


@dataclass(eq=False)
class SpiController:
    """One configured SPI controller: a hardware id of the port, or a SoftSPI on three pins.

    Attributes:
        rules: the port's rules.
        hw_id: the hardware id, or None for a SoftSPI.
        baudrate: the clock as the port reports it.
        polarity: CPOL.
        phase: CPHA.
        bits: bits per word.
        firstbit: the port's MSB or LSB value.
        sck: SCK GPIO (``-1`` unused, esp32).
        mosi: MOSI GPIO (``-1`` unused).
        miso: MISO GPIO (``-1`` unused).
        active: False after an esp32 ``deinit()``.
        soft_max_baudrate: a SoftSPI's fastest clock (esp32), or None.
    """

    rules: SpiPortRules
    hw_id: int | None
    baudrate: int
    polarity: int
    phase: int
    bits: int
    firstbit: int
    sck: int
    mosi: int
    miso: int
    active: bool = True
    soft_max_baudrate: int | None = None

    @property
    def pins(self) -> tuple[int, int, int]:
        """``(sck, mosi, miso)``: what identifies the bus."""
        return self.sck, self.mosi, self.miso

    def repr(self) -> str:
        """``repr()`` of the firmware's object, in the port's format."""
        if self.hw_id is None:
            delay = soft_delay_half(self.baudrate, self.soft_max_baudrate)
            baud = self.soft_max_baudrate if delay == 0 and self.soft_max_baudrate else 500_000 // max(delay, 1)
            return (f"SoftSPI(baudrate={baud}, polarity={self.polarity}, phase={self.phase}, "
                    f"sck={self.sck}, mosi={self.mosi}, miso={self.miso})")
        if self.rules.port == "esp32":
            return (f"SPI(id={self.hw_id}, baudrate={self.baudrate}, polarity={self.polarity}, "
                    f"phase={self.phase}, bits={self.bits}, firstbit={self.firstbit}, sck={self.sck}, "
                    f"mosi={self.mosi}, miso={self.miso})")
        return (f"SPI({self.hw_id}, baudrate={self.baudrate}, polarity={self.polarity}, phase={self.phase}, "
                f"bits={self.bits}, sck={self.sck}, mosi={self.mosi}, miso={self.miso})")

    def transfer(self, mosi: bytes, devices: Iterable[SpiDevice], selected: Callable[[SpiDevice], bool],
                 t: float) -> bytes:
        """Clock ``mosi`` out; returns MISO: the selected device's bytes, 0xFF (idle line) if none.

        Two devices selected at once drive MISO together; the result is their bitwise AND
        (a low bit wins), as on a bus with contention.
        """
        lsb_first = self.hw_id is not None and self.firstbit == self.rules.lsb
        wire = _reverse_bits(mosi) if lsb_first else bytes(mosi)
        miso = bytearray(b"\xff" * len(wire))
        for device in devices:
            if device.responding and selected(device):
                answer = bytes(device.transfer(wire, t))[:len(wire)].ljust(len(wire), b"\xff")
                for i, b in enumerate(answer):
                    miso[i] &= b
        return _reverse_bits(bytes(miso)) if lsb_first else bytes(miso)
