"""Board profiles: what a simulated board has, as data.

A :class:`BoardProfile` says which pins exist, which have an ADC, which belong
to the wireless chip, and how much MicroPython heap the board gives firmware.
:class:`~twin.board_model.BoardModel` validates every peripheral operation
against it, so the same firmware fails in the twin where it would fail on the
bench.

Pin identities follow the rp2 port: an ``int`` is a CPU GPIO number, a ``str``
names an external pin driven through the wireless chip (``"EXT_GPIO0"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

__all__ = ["BOARD_PROFILES", "PICO_W", "BoardProfile", "PinId"]

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
        temp_channel: ADC channel of the die temperature sensor.
        board_pins: board-level pin names (the board's ``pins.csv``) -> pin.
        cpu_pin_names: CPU-level pin names -> pin (also accepted by ``Pin(str)``).
        ext_pins: external pins (driven through the wireless chip) in order.
        wireless_pins: GPIOs wired to the wireless chip -> their signal name.
        wireless_hazard: why firmware must not drive ``wireless_pins``.
        has_wifi: whether ``network.WLAN`` works on this board.
        cpu_freq_hz: default ``machine.freq()``.
        adc_vref: ADC reference voltage (full scale), volts.
        vsys_divider: ratio of the VSYS sense divider on the VSYS ADC channel.
        vsys_channel: ADC channel that measures VSYS through the divider.
        pwm_slices: number of PWM slices (two channels each).
        hostname_default: ``network.hostname()`` after boot.
        mac_oui: first three bytes of the WiFi MAC address.
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

BOARD_PROFILES: dict[str, BoardProfile] = {PICO_W.name: PICO_W}
"""Every known board profile by name."""
