"""Chaos: random tasks on three Pico W twins, interleaved with random faults.

Faults (network partitions and drops, duplicated commands, latency, power cuts, brown-outs,
WiFi loss, a broker outage, stuck sensors) start and clear in any order. What must hold:
every request ends in exactly one outcome, in time; a command's physical effect happens at
most once even when the network duplicates it; after a fault clears the device serves again
within a bound; the hardware agrees with the last acknowledged command.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from labtwin.scenarios.engine.run_record import FaultWindow
from labtwin.scenarios.engine.state_machine import LabStateMachine, Outcome, needs
from labtwin.scenarios.labs.fault_menu import BROKER_TARGET, STUCK_SENSOR_VOLTS, fault_menu
from labtwin.scenarios.labs.lab import Capability
from labtwin.twin.faults.fault import Fault

__all__ = ["Chaos", "DuplicateDelivery", "LinkRecovery", "RECOVERY_BOUND_S"]

DEVICES = ["pico-a", "pico-b", "pico-c"]
DEVICE_FAULTS = ["partition", "link_drop", "duplicate_commands", "latency", "power_cut", "brown_out",
                 "wifi_loss", "sensor_stuck"]
# Rules draw small indices into the class's device and fault lists, so a focused subclass only
# sets those lists; indices shrink towards the first entry.
PICK = st.integers(min_value=0, max_value=15)
# Faults after which the board rebooted: its pins are back at power-on state.
REBOOTING = {"power_cut", "brown_out"}
# Faults under which requests to the device still succeed.
HARMLESS = {"duplicate_commands", "latency", "sensor_stuck", "brown_out"}
ALLOWED_OUTCOMES = {"ok", "task_error", "timeout", "offline", "broker"}
RECOVERY_BOUND_S = 8.0
FAULTED_TIMEOUT_S = 0.5  # requests to a faulted device: short, so outages do not dominate run time


class Chaos(LabStateMachine):
    """Chaos on three Pico W twins: random tasks interleaved with random faults, invariants throughout."""

    fault_kinds: list[str] = DEVICE_FAULTS
    broker_outages = True
    lab_options = {"devices": DEVICES, "network_twin": True, "timeout": 5.0}

    def __init__(self) -> None:
        super().__init__()
        self.active: dict[str, tuple[str, Fault]] = {}  # target -> (kind, fault)
        self.all_faults: list[Fault] = []
        self.reads_sent: Counter[str] = Counter()
        self.led: dict[str, bool | None] = {d: None for d in self.devices}

    def _device(self, pick: int) -> str:
        return self.devices[pick % len(self.devices)]

    # --- helpers --------------------------------------------------------------------------

    def _fault_on(self, device_id: str) -> str | None:
        if "broker" in self.active:
            return "broker_outage"
        entry = self.active.get(device_id)
        return entry[0] if entry else None

    def _make(self, kind: str, device_id: str) -> Fault:
        return fault_menu(self.twin(Capability.FAULTS), device_id)[kind]()

    def _start(self, target: str, kind: str, fault: Fault) -> None:
        started = self._now()
        self.run(fault.start())
        self.active[target] = (kind, fault)
        self.all_faults.append(fault)
        if kind in REBOOTING:
            self.led[target] = None
        self.log_step(f"fault.{kind}", {"target": target}, started, "fault started", fault.describe())

    @staticmethod
    def _timeout(fault: str | None) -> float | None:
        # Short only where the fault is expected to block requests; harmless faults get the normal one.
        return FAULTED_TIMEOUT_S if fault is not None and fault not in HARMLESS else None

    def _barrier(self, device_id: str, fault: str | None) -> None:
        """Let a duplicated command act before invariants look at the hardware.

        The network twin sends the duplicate right behind the original and the device runs
        commands in arrival order, so once a later request is answered the duplicate has been
        handled. Without this, when a broken device runs the duplicate would race the invariant.
        """
        if fault == "duplicate_commands":
            self.run(self.lab.client(device_id).call("get_device_status", timeout=FAULTED_TIMEOUT_S * 4))

    def _recovered(self, device_id: str) -> bool:
        return self.run(self._serving_within(device_id, RECOVERY_BOUND_S), timeout=60 + RECOVERY_BOUND_S)

    async def _serving_within(self, device_id: str, bound_s: float) -> bool:
        """Whether ``device_id`` answers a status request within ``bound_s`` seconds of the lab's time."""
        loop = asyncio.get_running_loop()  # on a twin its time() is the lab clock
        deadline = loop.time() + bound_s
        client = self.lab.client(device_id)
        while True:
            try:
                await client.call("get_device_status", timeout=1.0)
                return True
            except Exception:
                if loop.time() >= deadline:
                    return False
                await asyncio.sleep(0.2)

    # --- rules: orchestrator actions ------------------------------------------------------

    @rule(pick=PICK)
    def read_sensor(self, pick: int) -> None:
        device = self._device(pick)
        fault = self._fault_on(device)
        self.reads_sent[device] += 1
        outcome = self.call(device, "read_sensor", {"sensor_pin": 26}, timeout=self._timeout(fault))
        self._check_outcome(device, fault, outcome)
        self._barrier(device, fault)
        if outcome.kind == "ok":
            expected = STUCK_SENSOR_VOLTS if fault == "sensor_stuck" else None
            if expected is not None:
                assert abs(outcome.value["voltage"] - expected) < 0.02, outcome.value

    @rule(pick=PICK, state=st.booleans())
    def switch_led(self, pick: int, state: bool) -> None:
        device = self._device(pick)
        fault = self._fault_on(device)
        outcome = self.call(device, "control_led", {"pin": "LED", "state": state},
                            timeout=self._timeout(fault))
        self._check_outcome(device, fault, outcome)
        self._barrier(device, fault)
        # Unknown after a failed request: the command may or may not have reached the board.
        self.led[device] = state if outcome.kind == "ok" else None

    @rule(pick=PICK)
    def device_status(self, pick: int) -> None:
        device = self._device(pick)
        fault = self._fault_on(device)
        outcome = self.call(device, "get_device_status", {}, timeout=self._timeout(fault))
        self._check_outcome(device, fault, outcome)

    def _check_outcome(self, device: str, fault: str | None, outcome: Outcome) -> None:
        assert outcome.kind in ALLOWED_OUTCOMES, outcome
        if outcome.kind == "task_error":
            raise AssertionError(f"valid request to {device} got a device error: {outcome.code} {outcome.message}")
        if fault is None or fault in HARMLESS:
            assert outcome.kind == "ok", (
                f"{device} with fault {fault} should serve, got {outcome.label}: {outcome.message}")

    # --- rules: faults --------------------------------------------------------------------

    @needs(Capability.FAULTS)
    @rule(pick=PICK, fault_pick=PICK)
    def start_device_fault(self, pick: int, fault_pick: int) -> None:
        device, kind = self._device(pick), self.fault_kinds[fault_pick % len(self.fault_kinds)]
        if device in self.active or "broker" in self.active:
            return  # one fault per target at a time keeps outcomes attributable
        fault = self._make(kind, device)
        self._start(device, kind, fault)
        if kind == "brown_out":  # a one-shot: the board reboots now; wait for it like a user would
            self.active.pop(device)
            assert self._recovered(device), f"{device} not serving {RECOVERY_BOUND_S} s after a brown-out"

    @needs(Capability.FAULTS)
    @precondition(lambda self: self.broker_outages and not self.active)
    @rule()
    def start_broker_outage(self) -> None:
        outage = fault_menu(self.twin(Capability.FAULTS), BROKER_TARGET).get("broker_outage")
        if outage is None:  # the lab uses a broker it does not run
            return
        self._start(BROKER_TARGET, "broker_outage", outage())

    @needs(Capability.FAULTS)
    @precondition(lambda self: bool(self.active))
    @rule(pick=st.integers(min_value=0, max_value=7))
    def clear_fault(self, pick: int) -> None:
        target = sorted(self.active)[pick % len(self.active)]
        kind, fault = self.active.pop(target)
        started = self._now()
        self.run(fault.clear())
        self.log_step(f"clear.{kind}", {"target": target}, started, "fault cleared")
        devices = self.devices if target == "broker" else [target]
        for device in devices:
            assert self._recovered(device), f"{device} not serving {RECOVERY_BOUND_S} s after {kind} cleared"

    # --- invariants -----------------------------------------------------------------------

    @needs(Capability.HARDWARE)
    @invariant()
    def effects_happen_at_most_once(self) -> None:
        twin = self.twin()
        for device in self.devices:
            reads = len(twin.board(device).model.trace.samples("adc.0"))
            assert reads <= self.reads_sent[device], (
                f"{device}: {reads} ADC reads on the hardware for {self.reads_sent[device]} read requests")

    @needs(Capability.HARDWARE)
    @invariant()
    def led_agrees_with_last_acknowledged_command(self) -> None:
        twin = self.twin()
        for device, expected in self.led.items():
            if expected is not None and self._fault_on(device) not in REBOOTING:
                assert twin.board(device).model.led is expected, f"{device} LED disagrees with last ack"

    def teardown(self) -> None:
        try:
            for _, fault in list(self.active.values()):
                self.run(fault.clear())
            self.active.clear()
            for fault in self.all_faults:
                for start, end in fault.windows:
                    self.record.faults.append(FaultWindow(fault.name, fault.target, start, end, fault.describe()))
        finally:
            super().teardown()  # closes the lab even if clearing a fault failed


class DuplicateDelivery(Chaos):
    """Commands duplicated by the network (QoS 1 redelivery) must act on the hardware once."""

    devices = ["pico-a"]
    fault_kinds = ["duplicate_commands"]
    broker_outages = False
    lab_options = {"devices": devices, "network_twin": True, "timeout": 5.0}


class LinkRecovery(Chaos):
    """After the network drops or the broker restarts, the device must serve again within the bound."""

    devices = ["pico-a"]
    fault_kinds = ["link_drop", "wifi_loss"]
    lab_options = {"devices": devices, "network_twin": True, "timeout": 5.0}
