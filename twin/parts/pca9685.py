"""PCA9685: NXP's 16-channel, 12-bit PWM controller on I2C, register for register.

What the datasheet (Rev. 4) says and this model does:

- MODE1 (0x00, reset 0x11): RESTART(7) EXTCLK(6) AI(5) SLEEP(4) SUB1-3(3:1) ALLCALL(0). The register
  pointer auto-increments only while AI is set; past LED15_OFF_H (0x45) it rolls over to MODE1, and
  ALL_LED_ON_L..PRE_SCALE (0xFA..0xFE) also roll over to 0x00. Reserved registers (0x46..0xF9) are
  not acknowledged.
- SLEEP stops the 25 MHz oscillator; it runs again 500 us after SLEEP is cleared. Putting the chip to
  sleep while a channel runs sets RESTART and halts the channels; writing 1 to RESTART (awake, the
  oscillator stable) restarts them, and writing a channel's registers clears RESTART (writing 0 has no
  effect).
- PRE_SCALE (0xFE, reset 0x1E) is writable only while SLEEP is set; values below 3 load as 3.
  Frequency = osc / (4096 * (PRE_SCALE + 1)).
- LEDn_ON/OFF_L/H from 0x06, four per channel: 12-bit ON and OFF counts, bit 4 of ON_H = full on,
  bit 4 of OFF_H = full off (wins over full on), bits 7:5 read 0. ON == OFF counts give no pulse.
- ALL_LED_* (0xFA..0xFD) write every channel's register and read as 0.
- MODE2 (0x01, reset 0x04): INVRT(4) inverts the outputs; OCH(3) = 0 updates outputs on STOP,
  1 on each byte's ACK.

The model answers per channel the pulse (high time) in microseconds at a lab time and drives
:class:`~labtwin.twin.models.pwm.ServoModel` servos attached to channels, so a test can ask for the
angle on channel 3. Not modelled: the SUBADR/ALLCALL addresses (the bus holds one address per target;
a board model can route them), the OE pin and the I2C general-call software reset (call
:meth:`Pca9685.software_reset`).
"""

from __future__ import annotations

from labtwin.errors import ConfigError
from labtwin.twin.models.pwm import ServoModel
from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.i2c import RegisterTarget

__all__ = ["ALL_LED_ON_L", "LED0_ON_L", "MODE1", "MODE2", "PRE_SCALE", "Pca9685"]

MODE1, MODE2, LED0_ON_L, ALL_LED_ON_L, PRE_SCALE, TEST_MODE = 0x00, 0x01, 0x06, 0xFA, 0xFE, 0xFF
LAST_LED_REGISTER = LED0_ON_L + 4 * 16 - 1  # 0x45
RESTART, EXTCLK, AI, SLEEP, ALLCALL = 0x80, 0x40, 0x20, 0x10, 0x01
INVRT, OCH = 0x10, 0x08
FULL = 0x10  # bit 4 of ON_H / OFF_H
OSC_HZ = 25_000_000
OSC_STARTUP_S = 500e-6
POWER_ON = {MODE1: 0x11, MODE2: 0x04, 0x02: 0xE2, 0x03: 0xE4, 0x04: 0xE8, 0x05: 0xE0, PRE_SCALE: 0x1E}


class Pca9685(RegisterTarget):
    """A PCA9685 at ``address`` (0x40..0x7F by its A5..A0 pins).

    Args:
        address: 7-bit I2C address.
        osc_hz: internal oscillator (25 MHz; real parts drift a few percent).
        ext_clock_hz: the EXTCLK pin's clock, used once firmware sets MODE1.EXTCLK.
        name: label in trace signal names (``pca9685.<name>.ch<n>.pulse_us``).
        trace: where pulse changes go.
    """

    def __init__(self, address: int = 0x40, *, osc_hz: float = OSC_HZ, ext_clock_hz: float | None = None,
                 name: str = "pca9685", trace: Trace | None = None) -> None:
        super().__init__(address)
        self.osc_hz, self.ext_clock_hz = osc_hz, ext_clock_hz
        self.name, self._trace = name, trace
        self._servos: dict[int, ServoModel] = {}
        self.software_reset(0.0)

    def software_reset(self, t: float) -> None:
        """Power-on state: asleep, every channel full off, 200 Hz prescale."""
        self.registers[:] = bytes(len(self.registers))
        for register, value in POWER_ON.items():
            self.registers[register] = value
        for channel in range(16):
            self.registers[LED0_ON_L + 4 * channel + 3] = FULL
        self.pointer = 0
        self._active = bytearray(self.registers[LED0_ON_L:LAST_LED_REGISTER + 1])  # what the outputs show
        self._halted: set[int] = set()
        self._awake_since: float | None = None
        self._published: dict[int, float] = {}
        self._publish(t)

    # --- register file -------------------------------------------------------------------------------

    def _next(self, register: int) -> int:
        if not self.registers[MODE1] & AI:
            return register
        if register in (LAST_LED_REGISTER, PRE_SCALE):
            return MODE1
        return (register + 1) % 256

    @staticmethod
    def _reserved(register: int) -> bool:
        return LAST_LED_REGISTER < register < ALL_LED_ON_L

    def write(self, data: bytes, t: float) -> int:
        """Pointer byte, then data; the pointer moves only with MODE1.AI. Reserved pointers are NACKed."""
        if not data:
            return 0
        if self._reserved(data[0]):
            return 0
        self.pointer = data[0]
        for value in data[1:]:
            self.write_register(self.pointer, value, t)
            self.pointer = self._next(self.pointer)
        return len(data)

    def read(self, n: int, t: float) -> bytes:
        """``n`` registers from the pointer (which moves only with MODE1.AI)."""
        out = bytearray()
        for _ in range(n):
            out.append(self.read_register(self.pointer, t))
            self.pointer = self._next(self.pointer)
        return bytes(out)

    def read_register(self, register: int, t: float) -> int:
        """ALL_LED registers read 0; everything else reads back."""
        return 0 if ALL_LED_ON_L <= register < PRE_SCALE else self.registers[register]

    def write_register(self, register: int, value: int, t: float) -> None:
        """Apply one register write with the chip's rules."""
        value &= 0xFF
        if register == MODE1:
            self._write_mode1(value, t)
        elif register == PRE_SCALE:
            if self.registers[MODE1] & SLEEP:  # blocked while the oscillator runs
                self.registers[PRE_SCALE] = max(3, value)
        elif LED0_ON_L <= register <= LAST_LED_REGISTER:
            self._write_led((register - LED0_ON_L) // 4, (register - LED0_ON_L) % 4, value, t)
        elif ALL_LED_ON_L <= register < PRE_SCALE:
            for channel in range(16):
                self._write_led(channel, register - ALL_LED_ON_L, value, t)
        elif register == MODE2:
            self.registers[MODE2] = value
            self._publish(t)
        elif register != TEST_MODE:  # writing TestMode "may cause unpredictable results": ignored
            self.registers[register] = value

    def _write_led(self, channel: int, byte: int, value: int, t: float) -> None:
        register = LED0_ON_L + 4 * channel + byte
        self.registers[register] = value & 0x1F if byte % 2 else value
        self.registers[MODE1] &= ~RESTART & 0xFF
        self._halted.discard(channel)
        if self.registers[MODE2] & OCH:
            self._latch(t)

    def _write_mode1(self, value: int, t: float) -> None:
        old = self.registers[MODE1]
        new = (value & ~RESTART & 0xFF) | (old & RESTART) | (old & EXTCLK)  # EXTCLK is sticky
        if value & SLEEP and not old & SLEEP:
            running = {ch for ch in range(16) if self._output_on(ch)} if self._oscillating(t) else set()
            if running:
                self._halted |= running
                new |= RESTART
            self._awake_since = None
        elif not value & SLEEP and old & SLEEP:
            self._awake_since = t
        if value & RESTART and old & RESTART and not new & SLEEP and self._oscillating(t):
            self._halted.clear()
            new &= ~RESTART & 0xFF
        self.registers[MODE1] = new
        self._publish(t)

    def stop(self, t: float) -> None:
        """STOP: with MODE2.OCH = 0 the outputs take the new register values now."""
        if not self.registers[MODE2] & OCH:
            self._latch(t)

    def _latch(self, t: float) -> None:
        self._active[:] = self.registers[LED0_ON_L:LAST_LED_REGISTER + 1]
        self._publish(t)

    # --- outputs -------------------------------------------------------------------------------------

    def _oscillating(self, t: float) -> bool:
        return self._awake_since is not None and t >= self._awake_since + OSC_STARTUP_S

    def _output_on(self, channel: int) -> bool:
        on_h, off_h = self._active[4 * channel + 1], self._active[4 * channel + 3]
        return not off_h & FULL and (bool(on_h & FULL) or self._counts(channel)[0] != self._counts(channel)[1])

    def _counts(self, channel: int) -> tuple[int, int]:
        a = self._active
        base = 4 * channel
        return a[base] | (a[base + 1] & 0x0F) << 8, a[base + 2] | (a[base + 3] & 0x0F) << 8

    def frequency_hz(self) -> float:
        """The PWM frequency the prescaler gives: clock / (4096 * (PRE_SCALE + 1))."""
        clock = self.osc_hz
        if self.registers[MODE1] & EXTCLK:
            if self.ext_clock_hz is None:
                raise ConfigError(f"{self.name}: firmware selected EXTCLK but no ext_clock_hz is wired")
            clock = self.ext_clock_hz
        return clock / (4096 * (self.registers[PRE_SCALE] + 1))

    def duty(self, channel: int, t: float) -> float:
        """Fraction of the period channel ``channel``'s output is high at ``t`` (MODE2.INVRT applied)."""
        if not 0 <= channel < 16:
            raise ConfigError(f"PCA9685 has channels 0..15, not {channel}")
        if not self._oscillating(t) or channel in self._halted:
            return 0.0
        base = 4 * channel
        if self._active[base + 3] & FULL:
            high = 0.0
        elif self._active[base + 1] & FULL:
            high = 1.0
        else:
            on, off = self._counts(channel)
            high = 0.0 if on == off else ((off - on) % 4096) / 4096
        return 1.0 - high if self.registers[MODE2] & INVRT else high

    def pulse_us(self, channel: int, t: float) -> float:
        """High time of channel ``channel``'s pulse at ``t``, in microseconds (0 while stopped)."""
        return self.duty(channel, t) * 1e6 / self.frequency_hz()

    def attach_servo(self, channel: int, servo: ServoModel) -> ServoModel:
        """Wire ``servo``'s signal to ``channel`` (before firmware drives it: the servo hears pulses from
        the next register write or mode change on)."""
        if not 0 <= channel < 16:
            raise ConfigError(f"PCA9685 has channels 0..15, not {channel}")
        self._servos[channel] = servo
        self._published.pop(channel, None)
        return servo

    def angle(self, channel: int, t: float) -> float:
        """The shaft angle of the servo on ``channel`` at ``t``."""
        servo = self._servos.get(channel)
        if servo is None:
            raise ConfigError(f"{self.name}: no servo on channel {channel} (attach_servo first)")
        return servo.angle_at(t)

    def _publish(self, t: float) -> None:
        # A wake-up takes effect when the oscillator is stable, so evaluate outputs then.
        when = t if self._awake_since is None else max(t, self._awake_since + OSC_STARTUP_S)
        for channel in range(16):
            pulse = self.pulse_us(channel, when)
            if self._published.get(channel) == pulse:
                continue
            self._published[channel] = pulse
            if self._trace is not None:
                self._trace.record(f"pca9685.{self.name}.ch{channel}.pulse_us", when, pulse)
            servo = self._servos.get(channel)
            if servo is not None and pulse > 0:  # no pulses: a hobby servo holds where it is
                servo.command_pulse(pulse * 1e-6, when)
