"""The seed's sensor experiment as a property: random pins, random sequences, checked on the hardware.

Rules read ADC pins (valid and invalid), switch LEDs and GPIOs, and move the servo; the
twin's hardware must agree with every acknowledged command, ADC readings must match the
model's signal within its noise bound, and wrong pins must fail exactly as on a Pico W.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from labtwin.scenarios.engine.state_machine import LabStateMachine, needs
from labtwin.scenarios.labs.lab import Capability

if TYPE_CHECKING:
    from labtwin.twin.board.model import BoardModel

__all__ = ["SensorProperty"]

DEVICE = "pico-w-lab-001"
SERVO_PIN = 15
ADC_GPIOS = {26: 0, 27: 1, 28: 2, 29: 3}  # Pico W: GP26-29 -> ADC channels 0-3
ADC_CHANNELS = range(0, 5)  # an int 0-4 is a channel number on the rp2 port
HEADER_OUTPUTS = [p for p in range(0, 23) if p != SERVO_PIN]
VOLTS_PER_LSB = 3.3 / 65535


def adc_channel(pin: int) -> int | None:
    """The ADC channel rp2's ADC(pin) reads, or None when it raises."""
    if pin in ADC_CHANNELS:
        return pin
    return ADC_GPIOS.get(pin)


class SensorProperty(LabStateMachine):
    """The seed's sensor experiment as a property: random pins and sequences, checked on the twin."""

    lab_options = {"devices": [DEVICE]}

    def __init__(self) -> None:
        super().__init__()
        self.led_on: bool | None = None
        self.pin_levels: dict[int, int] = {}
        self.servo_angle: int | None = None

    @property
    def model(self) -> BoardModel:
        """The twin board's model (rules and invariants that look at the hardware)."""
        return self.twin().board(self.device).model

    @rule(pin=st.sampled_from(sorted(set(range(0, 30)))))
    def read_sensor(self, pin: int) -> None:
        outcome = self.call(self.device, "read_sensor", {"sensor_pin": pin})
        channel = adc_channel(pin)
        if channel is None:
            assert outcome.kind == "task_error" and outcome.code == "task_failed", outcome
            assert outcome.message == "ValueError: Pin doesn't have ADC capabilities", outcome.message
            return
        assert outcome.kind == "ok", outcome
        reading = outcome.value
        assert reading["sensor_pin"] == pin and 0 <= reading["raw_value"] <= 65535
        if Capability.HARDWARE in self.context.capabilities and channel != 4:  # channel 4 is a temperature
            adc = self.model.adc
            bound = adc.noise_bound(channel) + VOLTS_PER_LSB
            assert abs(reading["voltage"] - adc.signal(channel)) <= bound + 1e-4, (
                f"ADC{channel} read {reading['voltage']} V, model signal {adc.signal(channel)} V +- {bound}")

    @rule(state=st.booleans())
    def switch_onboard_led(self, state: bool) -> None:
        outcome = self.call(self.device, "control_led", {"pin": "LED", "state": state})
        assert outcome.kind == "ok", outcome
        self.led_on = state

    @rule(pin=st.sampled_from(HEADER_OUTPUTS), state=st.booleans())
    def switch_gpio(self, pin: int, state: bool) -> None:
        outcome = self.call(self.device, "control_led", {"pin": pin, "state": state})
        assert outcome.kind == "ok", outcome
        self.pin_levels[pin] = int(state)

    @rule(angle=st.integers(min_value=0, max_value=180))
    def move_servo(self, angle: int) -> None:
        outcome = self.call(self.device, "move_servo", {"pin": SERVO_PIN, "angle": angle})
        assert outcome.kind == "ok", outcome
        self.servo_angle = angle

    @rule(angle=st.one_of(st.integers(max_value=-1), st.integers(min_value=181)))
    def move_servo_out_of_range(self, angle: int) -> None:
        outcome = self.call(self.device, "move_servo", {"pin": SERVO_PIN, "angle": angle})
        assert outcome.kind == "task_error" and outcome.code == "bad_parameters", outcome

    @needs(Capability.HARDWARE)
    @invariant()
    def hardware_agrees_with_acknowledged_commands(self) -> None:
        if self.led_on is not None:
            assert self.model.led is self.led_on, f"LED is {self.model.led}, last ack said {self.led_on}"
        for pin, level in self.pin_levels.items():
            assert self.model.pin_level(pin) == level, f"GP{pin} is {self.model.pin_level(pin)}, expected {level}"
        if self.servo_angle is not None:
            # move_servo returns after its 500 ms settle; an SG90 covers 180 degrees in 0.3 s.
            angle = self.model.servo_angle(SERVO_PIN)
            assert abs(angle - self.servo_angle) <= 1.0, f"servo at {angle:.1f}, last ack {self.servo_angle}"
