"""Faults of the parts wired to a board: a chip that stops answering, a stuck bus, corrupted data,
an unplugged or noisy serial line, a drifting or stuck load cell, a stuck button, a stalled pump.

Each fault throws one of the part's own fault switches (docs/parts.md) and puts it back on clear,
so scenarios start and clear them like the network and sensor faults (docs/faults.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labtwin.errors import ConfigError
from labtwin.twin.clock import Clock
from labtwin.twin.faults.fault import Fault
from labtwin.twin.parts.button import Button
from labtwin.twin.parts.i2c import I2CBus, I2CTarget
from labtwin.twin.parts.pump import Pump
from labtwin.twin.parts.quantity import Quantity, TimeFunction
from labtwin.twin.parts.serial_link import UartDevice
from labtwin.twin.parts.spi import SpiDevice

__all__ = ["BusHeldLow", "ButtonStuck", "CorruptedReads", "PartSilent", "PumpStall", "QuantityDrift",
           "QuantityStuck", "UartGarbage", "UartUnplugged"]


class PartSilent(Fault):
    """An I2C chip or SPI device stops answering: its address is NACKed (the port's OSError)."""

    def __init__(self, target: str, part: I2CTarget | SpiDevice, clock: Clock) -> None:
        super().__init__(target, clock)
        self.part = part

    async def _apply(self) -> None:
        self.part.responding = False

    async def _revert(self) -> None:
        self.part.responding = True

    def _effect(self) -> str:
        return f"{type(self.part).__name__} stops answering (NACK)"


class BusHeldLow(Fault):
    """SDA held low on one I2C bus: every transaction on it times out (the port's ETIMEDOUT)."""

    def __init__(self, target: str, bus: I2CBus, clock: Clock) -> None:
        super().__init__(target, clock)
        self.bus = bus

    async def _apply(self) -> None:
        self.bus.held_low = True

    async def _revert(self) -> None:
        self.bus.held_low = False

    def _effect(self) -> str:
        return "I2C bus held low: every transaction times out"


class CorruptedReads(Fault):
    """Every byte string an I2C chip sends arrives with a flipped bit: its CRCs stop matching."""

    def __init__(self, target: str, part: I2CTarget, clock: Clock) -> None:
        super().__init__(target, clock)
        self.part = part

    async def _apply(self) -> None:
        self.part.corrupt_reads = True

    async def _revert(self) -> None:
        self.part.corrupt_reads = False

    def _effect(self) -> str:
        return f"{type(self.part).__name__} data corrupted on the wire (CRC errors)"


class UartUnplugged(Fault):
    """The serial cable to a UART device is pulled: nothing arrives from it."""

    def __init__(self, target: str, device: UartDevice, clock: Clock) -> None:
        super().__init__(target, clock)
        self.device = device

    async def _apply(self) -> None:
        self.device.connected = False

    async def _revert(self) -> None:
        self.device.connected = True

    def _effect(self) -> str:
        return f"{type(self.device).__name__} unplugged: no bytes arrive"


class UartGarbage(Fault):
    """An event: a burst of random bytes (seeded) arrives from a UART device, as line noise does."""

    one_shot = True

    def __init__(self, target: str, device: UartDevice, clock: Clock, *, length: int = 16, seed: int = 0) -> None:
        super().__init__(target, clock)
        if length < 1:
            raise ConfigError(f"UartGarbage needs at least one byte, got length={length}")
        self.device, self.length = device, length
        self._rng = np.random.default_rng(seed)

    async def _apply(self) -> None:
        self.device.send(self._rng.integers(0, 256, self.length, dtype=np.uint8).tobytes())

    async def _revert(self) -> None:
        """An event has nothing to undo."""

    def _effect(self) -> str:
        return f"{self.length} bytes of line noise from {type(self.device).__name__}"


def _quantity_of(part: Any, attribute: str) -> Quantity:
    value = getattr(part, attribute, None)
    if not isinstance(value, Quantity):
        raise ConfigError(f"{type(part).__name__} has no quantity {attribute!r} to disturb")
    return value


class QuantityStuck(Fault):
    """What a part senses (``attribute``: a load cell's ``weight``, a sensor's ``temperature``)
    freezes at its value when the fault starts."""

    def __init__(self, target: str, part: Any, attribute: str, clock: Clock) -> None:
        super().__init__(target, clock)
        self.part, self.attribute = part, attribute
        self._original = _quantity_of(part, attribute)

    async def _apply(self) -> None:
        frozen = self._original.value(self.clock.now())
        setattr(self.part, self.attribute, TimeFunction(lambda t: frozen))

    async def _revert(self) -> None:
        setattr(self.part, self.attribute, self._original)

    def _effect(self) -> str:
        return f"{type(self.part).__name__}.{self.attribute} stuck at its value"


class QuantityDrift(Fault):
    """What a part senses drifts away from the truth by ``rate`` units per second from the start."""

    def __init__(self, target: str, part: Any, attribute: str, clock: Clock, *, rate: float) -> None:
        super().__init__(target, clock)
        self.part, self.attribute, self.rate = part, attribute, rate
        self._original = _quantity_of(part, attribute)

    async def _apply(self) -> None:
        since, original, rate = self.clock.now(), self._original, self.rate
        setattr(self.part, self.attribute, TimeFunction(lambda t: original.value(t) + rate * max(0.0, t - since)))

    async def _revert(self) -> None:
        setattr(self.part, self.attribute, self._original)

    def _effect(self) -> str:
        return f"{type(self.part).__name__}.{self.attribute} drifts by {self.rate:g}/s"


class ButtonStuck(Fault):
    """A button or limit switch sticks pressed (``pressed=True``) or released, whatever happens."""

    def __init__(self, target: str, button: Button, clock: Clock, *, pressed: bool) -> None:
        super().__init__(target, clock)
        self.button, self.pressed = button, pressed

    async def _apply(self) -> None:
        if self.pressed:
            self.button.stuck_pressed = True
        else:
            self.button.stuck_released = True

    async def _revert(self) -> None:
        self.button.stuck_pressed = self.button.stuck_released = False

    def _effect(self) -> str:
        return f"button on GP{self.button.pin} stuck {'pressed' if self.pressed else 'released'}"


class PumpStall(Fault):
    """A pump stalls: switched on or not, it moves nothing."""

    def __init__(self, target: str, pump: Pump, clock: Clock) -> None:
        super().__init__(target, clock)
        self.pump = pump

    async def _apply(self) -> None:
        self.pump.stall(self.clock.now())

    async def _revert(self) -> None:
        self.pump.clear_stall(self.clock.now())

    def _effect(self) -> str:
        return f"pump on GP{self.pump.pin} stalled"
