"""A laboratory balance on a UART, answering a subset of Mettler Toledo's MT-SICS commands.

Commands are uppercase ASCII lines ending in CR LF; so are the answers. Weight answers have the form
``ID Status WeightValue Unit``: the weight right-aligned in 10 characters with as many decimals as
the readability has, e.g. ``S S     12.345 g``. Implemented (MT-SICS level 0/1):

=======  ==============================================================================================
``S``    stable net weight: ``S S <w> g``; waits up to ``stability_timeout_s`` for stability, then
         ``S I``; overload ``S +``, underload ``S -``
``SI``   net weight now: ``S S`` when stable, ``S D`` (dynamic) when not; ``S +`` / ``S -``
``Z``    zero when stable: ``Z A`` (clears the tare); ``Z I`` on timeout; ``Z +`` / ``Z -``
``ZI``   zero now: ``ZI S`` or ``ZI D``
``T``    tare when stable: ``T S <tare> g``; ``T I``; ``T +`` / ``T -``
``TA``   the tare: ``TA A <tare> g``;  ``TAC`` clears it: ``TAC A``
``I4``   serial number: ``I4 A "<serial>"``
``@``    reset (pending answers dropped, tare cleared, zero kept): ``I4 A "<serial>"``
other    ``ES`` (syntax error)
=======  ==============================================================================================

The load on the pan is a :class:`Quantity` in grams (a :class:`~labtwin.twin.parts.pump.Vessel` a
pump fills, say). It is stable when it moved by no more than ``stability_band_g`` over the last
``stability_window_s``. A reading adds seeded Gaussian noise and rounds to the readability. Each
answer is sent ``response_delay_s`` after the command (or after stability was reached); commands
are served one at a time, in order.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from labtwin.errors import ConfigError
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.quantity import Quantity, as_quantity
from labtwin.twin.parts.sensing import SensorNoise
from labtwin.twin.parts.serial_link import UartDevice

__all__ = ["Balance"]

STABILITY_POLL_S = 0.05


class Balance(UartDevice):
    """An MT-SICS balance weighing ``weight`` (grams on the pan).

    Args:
        weight: the load on the pan.
        readability_g: the smallest step it shows (0.001 g for a milligram balance).
        capacity_g: above this load it answers overload.
        underload_g: below this load (a removed pan) it answers underload; default -5 % of capacity.
        noise_g: standard deviation of the reading noise.
        seed: noise seed.
        serial_number: what ``I4`` answers.
        response_delay_s: time from command (or stability) to answer.
        stability_window_s, stability_band_g: the stability criterion (band default: 2 digits).
        stability_timeout_s: how long ``S``, ``Z`` and ``T`` wait for stability.
        unit: the unit shown.
        name: label in trace signals (``balance.<name>.weight``).
        trace: where weight answers go.
    """

    def __init__(self, weight: float | Quantity | Callable[[float], float], *, readability_g: float = 0.001,
                 capacity_g: float = 220.0, underload_g: float | None = None, noise_g: float = 0.0, seed: int = 0,
                 serial_number: str = "B123456789", response_delay_s: float = 0.05,
                 stability_window_s: float = 0.5, stability_band_g: float | None = None,
                 stability_timeout_s: float = 3.0, unit: str = "g", name: str = "balance",
                 trace: Trace | None = None) -> None:
        super().__init__()
        if readability_g <= 0 or capacity_g <= 0 or noise_g < 0 or response_delay_s < 0 or stability_window_s <= 0:
            raise ConfigError("balance: readability, capacity and stability window must be > 0; noise, delay >= 0")
        self.weight = as_quantity(weight)
        self.readability_g, self.capacity_g = readability_g, capacity_g
        self.underload_g = -0.05 * capacity_g if underload_g is None else underload_g
        self.noise_g, self.serial_number, self.unit = noise_g, serial_number, unit
        self.response_delay_s, self.stability_timeout_s = response_delay_s, stability_timeout_s
        self.stability_window_s = stability_window_s
        self.stability_band_g = 2 * readability_g if stability_band_g is None else stability_band_g
        self.name, self._trace = name, trace
        exponent = Decimal(str(readability_g)).normalize().as_tuple().exponent
        self._decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        self._noise = SensorNoise(seed)  # clipped at 3 sigma, as every part's noise
        self.zero_g, self.tare_g = 0.0, 0.0
        self._line = bytearray()
        self._scheduled: list[tuple[float, bytes]] = []
        self._busy_until = 0.0

    # --- physics -------------------------------------------------------------------------------------

    def stable(self, t: float) -> bool:
        """Whether the load moved by no more than the band over the window ending at ``t``."""
        samples = [self.weight.value(t - self.stability_window_s * k / 4) for k in range(5)]
        return max(samples) - min(samples) <= self.stability_band_g

    def _next_stable(self, t: float) -> float | None:
        steps = int(self.stability_timeout_s / STABILITY_POLL_S)
        for k in range(steps + 1):
            if self.stable(t + k * STABILITY_POLL_S):
                return t + k * STABILITY_POLL_S
        return None

    def _range(self, t: float) -> str | None:
        load = self.weight.value(t)
        return "+" if load > self.capacity_g else "-" if load < self.underload_g else None

    def net(self, t: float) -> float:
        """The net weight the balance shows at ``t`` (noise included, rounded to the readability)."""
        noisy = self._noise.add(self.weight.value(t), self.noise_g)
        return self._round(noisy - self.zero_g - self.tare_g)

    def _round(self, grams: float) -> float:
        return round(round(grams / self.readability_g) * self.readability_g, self._decimals) + 0.0

    def format_weight(self, grams: float) -> str:
        """``WeightValue Unit`` as MT-SICS sends it: 10 characters right-aligned, a blank, the unit."""
        return f"{grams:>10.{self._decimals}f} {self.unit}"

    # --- the line protocol ---------------------------------------------------------------------------

    def receive(self, data: bytes, t: float) -> None:
        """Bytes from the board; each CR LF ends a command."""
        if not self.connected:
            return
        self._line += data
        while (end := self._line.find(b"\r\n")) >= 0:
            command = bytes(self._line[:end]).decode("ascii", errors="replace").strip()
            del self._line[:end + 2]
            if command:
                self._serve(command, t)

    def _serve(self, command: str, t: float) -> None:
        start = t if command == "@" else max(t, self._busy_until)  # @ cancels what is waiting
        if command == "@":
            self._scheduled.clear()
            self.tare_g = 0.0
            answer, at = f'I4 A "{self.serial_number}"', start
        elif command in ("S", "Z", "T"):
            answer, at = self._when_stable(command, start)
        elif command == "SI":
            out = self._range(start)
            answer = f"S {out}" if out else self._weight_answer("S", "S" if self.stable(start) else "D", start)
            at = start
        elif command == "ZI":
            out = self._range(start)
            answer = f"ZI {out}" if out else f"ZI {'S' if self.stable(start) else 'D'}"
            if not out:
                self.zero_g, self.tare_g = self.weight.value(start), 0.0
            at = start
        elif command == "TA":
            answer, at = f"TA A {self.format_weight(self._round(self.tare_g))}", start
        elif command == "TAC":
            self.tare_g = 0.0
            answer, at = "TAC A", start
        elif command == "I4":
            answer, at = f'I4 A "{self.serial_number}"', start
        else:
            answer, at = "ES", start
        at += self.response_delay_s
        self._busy_until = at
        self._scheduled.append((at, (answer + "\r\n").encode("ascii")))

    def _when_stable(self, command: str, start: float) -> tuple[str, float]:
        out = self._range(start)
        if out:
            return f"{command} {out}", start
        when = self._next_stable(start)
        if when is None:
            return f"{command} I", start + self.stability_timeout_s
        if command == "S":
            return self._weight_answer("S", "S", when), when
        if command == "Z":
            self.zero_g, self.tare_g = self.weight.value(when), 0.0
            return "Z A", when
        self.tare_g = self.weight.value(when) - self.zero_g
        return f"T S {self.format_weight(self._round(self.tare_g))}", when

    def _weight_answer(self, ident: str, status: str, t: float) -> str:
        grams = self.net(t)
        if self._trace is not None:
            self._trace.record(f"balance.{self.name}.weight", t, grams)
        return f"{ident} {status} {self.format_weight(grams)}"

    def transmit(self, t: float) -> bytes:
        """Answers due by ``t``, in order."""
        due = [data for at, data in self._scheduled if at <= t]
        self._scheduled = [(at, data) for at, data in self._scheduled if at > t]
        for data in due:
            self.send(data)
        return super().transmit(t)

    def next_answer_at(self) -> float | None:
        """Lab time of the next pending answer, if any (for a board model's scheduler)."""
        return min((at for at, _ in self._scheduled), default=None)
