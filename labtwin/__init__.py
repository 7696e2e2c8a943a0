"""labtwin: a simulation-first digital-twin testbed for laboratory automation.

This package is the shared kernel: the error hierarchy that every layer raises.
The layers themselves live in the top-level packages ``twin`` (simulated
hardware), ``orchestrator`` (the client library) and ``scenarios`` (experiments,
labs and the CLI).
"""

__version__ = "0.1.0"
