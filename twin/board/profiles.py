"""Board profiles: what a simulated board has, as data.

A :class:`BoardProfile` says which pins exist, which have an ADC, which belong
to the wireless chip, and how much MicroPython heap the board gives firmware.
:class:`~labtwin.twin.board.model.BoardModel` validates every peripheral operation
against it, so the same firmware fails in the twin where it would fail on the
bench.

Pin identities follow the rp2 port: an ``int`` is a CPU GPIO number, a ``str``
names an external pin driven through the wireless chip (``"EXT_GPIO0"``).

Profiles: :data:`PICO_W` (rp2 port, ``RPI_PICO_W``) and :data:`ESP32` (esp32
port, ``ESP32_GENERIC`` on an ESP32-WROOM-32 board). The board model's
behaviour for pins, ADC, PWM and WiFi (error texts, PWM arithmetic) is the rp2
port's; an ESP32 profile gets the ESP32's pins, ADC map and heap for those. The
buses (``I2C``, ``SoftI2C``, ``SPI``, ``SoftSPI``, ``UART``) follow the profile's
:attr:`BoardProfile.port`: constructor signatures, legal pins, errno values and
class constants of that port.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

__all__ = ["BOARD_PROFILES", "ESP32", "ESP32_HEAP_BYTES", "PICO_W", "PICO_W_HEAP_BYTES", "BoardProfile",
           "PinId"]

PinId = int | str
"""A resolved pin: CPU GPIO number, or external (wireless-chip) pin name."""


_K = TypeVar("_K")
_V = TypeVar("_V")


def _frozen(mapping: Mapping[_K, _V]) -> Mapping[_K, _V]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, eq=False)
class BoardProfile:
    """Static description of one board type.

    Attributes:
        name: Profile key, e.g. ``"pico_w"``.
        machine: ``sys.implementation._machine`` of the real firmware.
        heap_bytes: MicroPython GC heap size given to the VM (``-X heapsize``).
        cpu_gpio_count: GPIOs the CPU has; ``Pin(n)`` is valid for ``0 <= n < count``.
        header_gpios: GPIOs broken out to the board's header.
        adc_gpio_channels: ADC-capable GPIO -> ADC channel.
        internal_adc_channels: channel -> what it measures (not a header pin).
        temp_channel: ADC channel of the die temperature sensor; ``-1`` when the ADC has
            none, and then an ``int`` given to ``ADC()`` is always a GPIO number (esp32 port).
        board_pins: board-level pin names (the board's ``pins.csv``) -> pin.
        cpu_pin_names: CPU-level pin names -> pin (also accepted by ``Pin(str)``).
        ext_pins: external pins (driven through the wireless chip) in order.
        wireless_pins: GPIOs the board's own hardware owns -> their signal name; firmware
            driving one is recorded as a hazard (Pico W: the wireless chip; ESP32-WROOM-32:
            the module's SPI flash).
        wireless_hazard: why firmware must not drive ``wireless_pins``.
        has_wifi: whether ``network.WLAN`` works on this board.
        cpu_freq_hz: default ``machine.freq()``.
        adc_vref: ADC reference voltage (full scale), volts.
        vsys_divider: ratio of the VSYS sense divider on the VSYS ADC channel.
        vsys_channel: ADC channel that measures VSYS through the divider.
        pwm_slices: number of PWM slices (two channels each).
        hostname_default: ``network.hostname()`` after boot.
        mac_oui: first three bytes of the WiFi MAC address.
        led_pin: what firmware passes to ``Pin()`` for the onboard LED, or None without one.
        port: the MicroPython port the board runs (``"rp2"``, ``"esp32"``): whose constructor
            signatures, pin rules, errno values and class constants ``I2C``, ``SPI`` and ``UART`` follow.
    """

    name: str
    machine: str
    heap_bytes: int
    cpu_gpio_count: int
    header_gpios: frozenset[int]
    adc_gpio_channels: Mapping[int, int]
    internal_adc_channels: Mapping[int, str]
    temp_channel: int
    board_pins: Mapping[str, PinId]
    cpu_pin_names: Mapping[str, PinId]
    ext_pins: tuple[str, ...]
    wireless_pins: Mapping[int, str]
    wireless_hazard: str
    has_wifi: bool
    cpu_freq_hz: int = 125_000_000
    adc_vref: float = 3.3
    vsys_divider: float = 3.0
    vsys_channel: int | None = 3
    pwm_slices: int = 8
    hostname_default: str = "mpy-rp2"
    mac_oui: bytes = field(default=b"\x28\xcd\xc1")
    led_pin: int | str | None = None
    port: str = "rp2"

    @property
    def adc_channel_count(self) -> int:
        """Number of ADC channels (external plus internal)."""
        return len(set(self.adc_gpio_channels.values()) | set(self.internal_adc_channels))

    def pin_name(self, pin: PinId) -> str:
        """CPU-level name of a resolved pin, as the rp2 ``Pin`` repr prints it."""
        return pin if isinstance(pin, str) else f"GPIO{pin}"


def _pico_w() -> BoardProfile:
    header = frozenset(list(range(0, 23)) + [26, 27, 28])
    board_pins: dict[str, PinId] = {f"GP{n}": n for n in sorted(header)}
    board_pins.update({"WL_GPIO0": "EXT_GPIO0", "WL_GPIO1": "EXT_GPIO1",
                       "WL_GPIO2": "EXT_GPIO2", "LED": "EXT_GPIO0"})
    cpu_pins: dict[str, PinId] = {f"GPIO{n}": n for n in range(30)}
    cpu_pins.update({f"EXT_GPIO{n}": f"EXT_GPIO{n}" for n in range(3)})
    return BoardProfile(
        name="pico_w",
        machine="Raspberry Pi Pico W with RP2040",
        heap_bytes=PICO_W_HEAP_BYTES,
        cpu_gpio_count=30,
        header_gpios=header,
        adc_gpio_channels=_frozen({26: 0, 27: 1, 28: 2, 29: 3}),
        internal_adc_channels=_frozen({3: "VSYS/3", 4: "temperature sensor"}),
        temp_channel=4,
        board_pins=_frozen(board_pins),
        cpu_pin_names=_frozen(cpu_pins),
        ext_pins=("EXT_GPIO0", "EXT_GPIO1", "EXT_GPIO2"),
        wireless_pins=_frozen({23: "WL_ON", 24: "WL_D", 25: "WL_CS", 29: "WL_CLK"}),
        wireless_hazard=(
            "this GPIO is wired to the CYW43439 wireless chip on a Pico W; "
            "driving it disturbs WiFi and the onboard LED "
            "(the Pico W LED is Pin('LED'), not GP25 as on a plain Pico)"
        ),
        has_wifi=True,
        hostname_default="PicoW",
        led_pin="LED",
    )


PICO_W_HEAP_BYTES = 200_000
"""MicroPython GC heap of a Pico W, in bytes (the whole GC area, like ``-X heapsize``).

Source: Phil Howard (Gadgetoid, Pimoroni), pimoroni/pimoroni-pico PR #599,
comment of 2023-01-25, on a Pico W running MicroPython: "a 262k
microcontroller that has ~200k allocated to MicroPython heap storage and
flags". The unix VM given ``-X heapsize=200000`` reports
``gc.mem_free() == 195488`` at start. This is an approximation: no measured
``gc.mem_free()`` of a freshly booted Pico W was found in the sources
searched; replace it with a bench reading when one is taken.
"""

PICO_W = _pico_w()
"""Raspberry Pi Pico W (RP2040 + CYW43439), MicroPython rp2 port ``RPI_PICO_W``.

Pin map from the port's ``boards/RPI_PICO_W/pins.csv`` and the Pico W
datasheet: GP0-22 and GP26-28 on the header; ADC channels 0-2 on GP26-28,
channel 3 on GP29 (VSYS/3), channel 4 the temperature sensor; GP23 WL_ON,
GP24 WL_D, GP25 WL_CS and GP29 WL_CLK belong to the wireless chip; the
onboard LED is the chip's WL_GPIO0 (``Pin("LED")``).
"""



def _esp32() -> BoardProfile:
    # GPIOs the esp32 port enables for CONFIG_IDF_TARGET_ESP32 without SPIRAM (machine_pin.h):
    # 0-23, 25-27, 32-39. GPIO20 is in the port's table although a WROOM-32 has no such pad.
    flash = {6: "SPI_CLK", 7: "SPI_Q (SD0)", 8: "SPI_D (SD1)", 9: "SPI_HD (SD2)", 10: "SPI_WP (SD3)",
             11: "SPI_CS0 (CMD)"}
    # ESP32-DevKitC (ESP32-WROOM-32) header: every module pin except GND/3V3/EN.
    header = frozenset([*range(20), 21, 22, 23, 25, 26, 27, 32, 33, 34, 35, 36, 39])
    # ADC1 channel n -> model channel n; ADC2 channel n -> model channel 8 + n (machine_adc.c, ESP32).
    adc1 = {36: 0, 37: 1, 38: 2, 39: 3, 32: 4, 33: 5, 34: 6, 35: 7}
    adc2 = {4: 0, 0: 1, 2: 2, 15: 3, 13: 4, 12: 5, 14: 6, 27: 7, 25: 8, 26: 9}
    adc = {**adc1, **{gpio: 8 + ch for gpio, ch in adc2.items()}}
    return BoardProfile(
        name="esp32",
        machine="Generic ESP32 module with ESP32",
        heap_bytes=ESP32_HEAP_BYTES,
        cpu_gpio_count=40,
        header_gpios=header,
        adc_gpio_channels=_frozen(adc),
        internal_adc_channels=_frozen({}),
        temp_channel=-1,
        board_pins=_frozen({}),
        cpu_pin_names=_frozen({}),
        ext_pins=(),
        wireless_pins=_frozen(flash),
        wireless_hazard=(
            "this GPIO is wired to the ESP32-WROOM-32's SPI flash; driving it crashes the board "
            "(firmware runs from that flash)"
        ),
        has_wifi=True,
        cpu_freq_hz=160_000_000,
        adc_vref=1.1,
        vsys_channel=None,
        pwm_slices=8,
        hostname_default="mpy-esp32",
        mac_oui=b"\x24\x0a\xc4",
        led_pin=2,
        port="esp32",
    )


ESP32_HEAP_BYTES = 114_688
"""MicroPython GC heap of an ESP32 without PSRAM, in bytes (the whole GC area, like ``-X heapsize``).

NOT a bench reading. Since MicroPython 1.22 the esp32 port starts with one
56 KiB heap area (``MICROPY_GC_INITIAL_HEAP_SIZE`` for ``CONFIG_IDF_TARGET_ESP32``
in ``ports/esp32/mpconfigport.h``, "chosen so they can grow the heap once (double
it) and still have enough internal RAM to start WiFi and make a HTTPS request")
and adds areas from the ESP-IDF heap on demand. Two areas are 2 x 57,344 =
114,688 bytes; micropython/micropython PR #13219 (Damien George, 2023-12-18)
gives the resulting GC total as 111,936 bytes "with about 40k left for the
IDF", which matches the fixed 108,032-byte heap of the last release before the
split heap (PR #13035). A third area is only added when ESP-IDF has a large
enough free block left, which WiFi and sockets make unlikely, so firmware
should not count on it. Replace with a bench reading (``micropython.mem_info()``
after boot and after a WiFi join) when one is taken.
"""

ESP32 = _esp32()
"""A generic ESP32-WROOM-32 board (e.g. Espressif's ESP32-DevKitC), esp32 port ``ESP32_GENERIC``.

Pins from the port's ``machine_pin.h`` (GPIO0-23, 25-27, 32-39 exist; 34-39
are input-only on the chip, which this model does not enforce); GPIO6-11 carry
the module's SPI flash (driving them is a hazard). ADC from the port's
``machine_adc.c``: ADC1 channels 0-7 on GPIO36, 37, 38, 39, 32, 33, 34, 35 and
ADC2 channels 0-9 on GPIO4, 0, 2, 15, 13, 12, 14, 27, 25, 26 (model channels
8-17); ``ADC(n)`` takes a GPIO number, never a channel; no internal channels.
12-bit readings scaled to ``read_u16`` like the rp2 port; full scale about
1.1 V at the port's default 0 dB attenuation. ESP32_GENERIC defines no named
pins: ``Pin("LED")`` raises ``ValueError`` on the board. The onboard LED is
GPIO2 on the common "ESP32 DevKit V1" boards; Espressif's DevKitC has none.
CPU clock 160 MHz (the ESP-IDF default the port keeps); hostname ``mpy-esp32``
(``MICROPY_PY_NETWORK_HOSTNAME_DEFAULT``); MAC OUI 24:0A:C4 (Espressif).
"""

BOARD_PROFILES: dict[str, BoardProfile] = {PICO_W.name: PICO_W, ESP32.name: ESP32}
"""Every known board profile by name."""
