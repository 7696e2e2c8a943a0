"""MicroPython's argument parsing for peripheral constructors, as the host re-runs it.

The ``machine`` shim sends a constructor's positional and keyword arguments to the host as they
were given (pins as what ``Pin`` resolved them to), and the host parses them against the port's
argument table the way ``mp_arg_parse_all`` (``py/argcheck.c``) does, so a wrong call fails with
the port's own ``TypeError``: ``extra positional arguments given``, ``extra keyword arguments
given``, ``'scl' argument required``, ``can't convert float to int``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labtwin.twin.models.mp import MicroPythonError, mp_get_int

__all__ = ["NOT_GIVEN", "Arg", "ParsedArgs", "check_arg_count", "parse_args"]


class _NotGiven:
    """``MP_OBJ_NULL``: an object argument that was not passed (distinct from ``None``)."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()
"""Default of an object argument whose absence the port tells from ``None``."""


@dataclass(frozen=True)
class Arg:
    """One row of a port's ``mp_arg_t`` table.

    Attributes:
        name: the keyword (``MP_QSTR_...``).
        is_int: ``MP_ARG_INT`` (converted like ``mp_obj_get_int``); otherwise ``MP_ARG_OBJ``.
        required: ``MP_ARG_REQUIRED``.
        kw_only: ``MP_ARG_KW_ONLY``.
        default: the value when not given.
    """

    name: str
    is_int: bool = True
    required: bool = False
    kw_only: bool = False
    default: Any = None


@dataclass(frozen=True)
class ParsedArgs:
    """Parsed arguments: ``values`` by name, and which names were given at all."""

    values: dict[str, Any]
    given: frozenset[str]
    n_pos: int
    n_kw: int

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


def check_arg_count(n_pos: int, fewest: int) -> None:
    """``mp_arg_check_num`` for a ``make_new`` that takes ``fewest`` or more positional arguments.

    Raises:
        MicroPythonError: ``TypeError("function missing N required positional arguments")``.
    """
    if n_pos < fewest:
        raise MicroPythonError("TypeError", f"function missing {fewest - n_pos} required positional arguments")


def parse_args(table: Sequence[Arg], args: Sequence[Any], kwargs: Mapping[str, Any]) -> ParsedArgs:
    """Parse ``args``/``kwargs`` against ``table`` exactly as ``mp_arg_parse_all`` does.

    Raises:
        MicroPythonError: the ``TypeError`` the port raises for a call that does not fit.
    """
    if not isinstance(args, list | tuple) or not isinstance(kwargs, Mapping):
        raise MicroPythonError("TypeError", "labtwin: malformed constructor arguments")
    values: dict[str, Any] = {}
    given: set[str] = set()
    kws_found = 0
    for i, arg in enumerate(table):
        if i < len(args):
            if arg.kw_only:
                raise MicroPythonError("TypeError", "extra positional arguments given")
            value = args[i]
        elif arg.name in kwargs:
            kws_found += 1
            value = kwargs[arg.name]
        else:
            if arg.required:
                raise MicroPythonError("TypeError", f"'{arg.name}' argument required")
            values[arg.name] = arg.default
            continue
        given.add(arg.name)
        values[arg.name] = mp_get_int(value) if arg.is_int else value
    if len(args) > len(table):
        raise MicroPythonError("TypeError", "extra positional arguments given")
    if kws_found < len(kwargs):
        raise MicroPythonError("TypeError", "extra keyword arguments given")
    return ParsedArgs(values, frozenset(given), len(args), len(kwargs))
