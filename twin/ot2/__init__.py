"""The OT-2 twins: the task app on opentrons.simulate and the robot's own HTTP API on opentrons' engine."""
