"""labtwin's public scenario API: what a lab's own scenario files import.

::

    from labtwin.scenarios.api import Capability, LabStateMachine, experiment, invariant, needs, rule

    @experiment(summary="Read the enclosure once")
    async def read_once(lab, report):
        report(str(await lab.client(lab.device_ids[0]).execute_task("read_environment")))

    class CoolerKeepsUp(LabStateMachine):
        budget = Budget(examples=5, steps=20)

        @rule(on=st.booleans())
        def switch(self, on):
            outcome = self.call(self.device, "set_cooler", {"on": on})   # one Outcome per request
            assert outcome.kind == "ok", outcome

        @needs(Capability.HARDWARE)              # skipped (and listed) on a bench
        @invariant()
        def cooler_pin_follows(self):
            model = self.twin().board(self.device).model
            ...

docs/lab-scenarios.md documents it: ``LabStateMachine`` (``self.lab``, ``self.devices``,
``self.device``, ``self.call(device_id, task, params)`` -> :class:`Outcome`, ``self.twin()``,
``self.run(coro)``, ``self.log_step``), ``@needs``, fault rules (``self.twin(Capability.FAULTS)``),
and Hypothesis' ``rule``, ``invariant``, ``initialize``, ``precondition`` and strategies (``st``),
re-exported here so one import line serves.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from labtwin.scenarios.engine.experiment import Experiment, Report, experiment
from labtwin.scenarios.engine.runner import Budget, PropertyScenario
from labtwin.scenarios.engine.state_machine import LabStateMachine, Outcome, needs
from labtwin.scenarios.labs.lab import Capability, Lab, TwinHardware, twin_hardware

__all__ = ["Budget", "Capability", "Experiment", "Lab", "LabStateMachine", "Outcome", "PropertyScenario", "Report",
           "TwinHardware", "experiment", "initialize", "invariant", "needs", "precondition", "rule", "st",
           "twin_hardware"]
