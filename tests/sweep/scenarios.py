"""Tiny property scenarios for the sweep tests (referenced as tests/sweep/scenarios.py::NAME).

One board, a status read per step: cheap enough that a local cluster of two workers sweeps a few
seeds in seconds. ``OddSeedsBreak`` fails on odd seeds only (the lab knows its seed), and only for a
generated value above 10, so a sweep sees passes and failures and Hypothesis shrinks each failure to
one step with the value 11.
"""

from labtwin.scenarios.api import Budget, LabStateMachine, rule, st

BOARD = "pico-sweep"


class StatusReads(LabStateMachine):
    """Read the board's status: it always answers."""

    lab_options = {"devices": [BOARD]}
    budget = Budget(examples=2, steps=2)

    @rule()
    def read_status(self):
        outcome = self.call(BOARD, "get_device_status", {})
        assert outcome.kind == "ok", outcome


class OddSeedsBreak(LabStateMachine):
    """Read the board's status with a generated value; on an odd seed a value above 10 breaks an invariant."""

    lab_options = {"devices": [BOARD]}
    budget = Budget(examples=4, steps=2)

    @rule(value=st.integers(min_value=0, max_value=50))
    def read_status(self, value):
        outcome = self.call(BOARD, "get_device_status", {})
        assert outcome.kind == "ok", outcome
        if self.lab.seed % 2 == 1:
            assert value <= 10, f"value {value} is above 10 on an odd seed"
