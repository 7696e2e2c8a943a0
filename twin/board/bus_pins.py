"""How the bus peripherals (I2C, SPI, UART and their soft variants) find and claim a board's pins.

A bus constructor takes pins as ``mp_hal_get_pin_obj`` does on the board's port, hands them to
the peripheral (the pin's function, as ``repr(Pin)`` then shows it) and reports any pin the
board's own hardware owns as a hazard, like every other pin operation of the board model.
"""

from __future__ import annotations

from collections.abc import Callable

from labtwin.twin.board.profiles import BoardProfile, PinId
from labtwin.twin.models.gpio import MODE_ALT, MODE_IN, MODE_OPEN_DRAIN, MODE_OUT, PULL_UP, GpioModel
from labtwin.twin.models.mp import MicroPythonError

__all__ = ["FUNC_I2C", "FUNC_SPI", "FUNC_UART", "BusPins"]

FUNC_SPI, FUNC_UART, FUNC_I2C = 1, 2, 3  # RP2040 GPIO functions (GPIO_FUNC_SPI/UART/I2C)


class BusPins:
    """The pin side of a board's buses.

    Args:
        profile: the board type (its ``port`` decides the pin lookup's errors).
        gpio: the board's pins.
        resolve: the board model's ``Pin(id)`` lookup (raises the rp2 port's errors).
        on_pin_use: told ``(pin, what the firmware did)`` for every pin a bus claims.
    """

    def __init__(self, profile: BoardProfile, gpio: GpioModel, resolve: Callable[[object], PinId],
                 on_pin_use: Callable[[PinId, str], None]) -> None:
        self.port = profile.port
        self._gpio = gpio
        self._resolve = resolve
        self._on_pin_use = on_pin_use

    def gpio_of(self, source: object) -> int:
        """``mp_hal_get_pin_obj``: a bus pin given as a number, a name or a ``Pin``.

        Raises:
            MicroPythonError: rp2: ``invalid pin``, ``unknown named pin "X"`` or, for a pin of
                the wireless chip, ``expecting a regular GPIO Pin``; esp32: ``invalid pin``.
        """
        if self.port == "esp32":
            try:
                pin = self._resolve(source)
            except MicroPythonError:
                raise MicroPythonError.value_error("invalid pin") from None
            if not isinstance(pin, int):
                raise MicroPythonError.value_error("invalid pin")
            return pin
        pin = self._resolve(source)
        if not isinstance(pin, int):
            raise MicroPythonError.value_error("expecting a regular GPIO Pin")
        return pin

    def claim_peripheral(self, pin: int, funcsel: int, what: str, *, pull_up: bool = False) -> None:
        """Hand ``pin`` to a hardware peripheral (``gpio_set_function``), with pull-up for I2C."""
        self._on_pin_use(pin, f"routed {what} to")
        self._gpio.configure(pin, MODE_ALT, PULL_UP if pull_up else None, None, funcsel)

    def claim_open_drain(self, pin: int, what: str) -> None:
        """``mp_hal_pin_open_drain``: a bit-banged I2C line, released (high)."""
        self._on_pin_use(pin, f"bit-bangs {what} on")
        self._gpio.configure(pin, MODE_OPEN_DRAIN, self._gpio.state(pin).pull, 1)

    def claim_output(self, pin: int, value: int, what: str) -> None:
        """``mp_hal_pin_output``: a bit-banged SPI clock or data-out line."""
        self._on_pin_use(pin, f"bit-bangs {what} on")
        self._gpio.configure(pin, MODE_OUT, self._gpio.state(pin).pull, value)

    def claim_input(self, pin: int, what: str) -> None:
        """``mp_hal_pin_input``: a bit-banged SPI data-in line."""
        self._on_pin_use(pin, f"reads {what} on")
        self._gpio.configure(pin, MODE_IN, self._gpio.state(pin).pull, None)

    def level(self, pin: int) -> int:
        """The level on ``pin`` now (a chip-select line, for instance)."""
        return self._gpio.level(pin)
