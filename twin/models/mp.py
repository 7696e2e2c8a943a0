"""Exceptions and argument conversions as the firmware's MicroPython VM sees them.

Models raise :class:`MicroPythonError` where the real rp2 port raises an
exception; the hardware bus carries its class name and argument to the shim,
which re-raises the same built-in exception inside the VM. It is deliberately
not a ``LabtwinError``: it is the *firmware's* error, not labtwin's.
"""

from __future__ import annotations

__all__ = ["EPERM", "MicroPythonError", "mp_get_int"]

EPERM = 1
"""errno the cyw43 driver returns (as ``OSError``) when joining with STA inactive."""


class MicroPythonError(Exception):
    """An exception to raise inside the MicroPython VM.

    Attributes:
        exc_type: built-in exception class name, e.g. ``"ValueError"``.
        arg: its single argument: a message, an errno ``int``, or ``None``.
    """

    def __init__(self, exc_type: str, arg: str | int | None = None) -> None:
        self.exc_type = exc_type
        self.arg = arg
        super().__init__(f"{exc_type}: {arg}" if arg is not None else exc_type)

    @classmethod
    def value_error(cls, message: str | None = None) -> MicroPythonError:
        """Shorthand for a ``ValueError`` with ``message``."""
        return cls("ValueError", message)


def mp_get_int(value: object) -> int:
    """Convert like MicroPython's ``mp_obj_get_int``: ints and bools only.

    Raises:
        MicroPythonError: ``TypeError("can't convert float to int")`` and the
            like, with MicroPython's type name in the message.
    """
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    name = {float: "float", str: "str", type(None): "NoneType", list: "list",
            dict: "dict"}.get(type(value), type(value).__name__)
    raise MicroPythonError("TypeError", f"can't convert {name} to int")
