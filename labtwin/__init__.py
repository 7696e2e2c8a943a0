"""labtwin: a simulation-first digital-twin testbed for laboratory automation.

Everything imports as ``labtwin.*`` (docs/architecture.md): ``labtwin.orchestrator`` (the client
library a lab drives its devices with), ``labtwin.twin`` (simulated hardware), ``labtwin.scenarios``
(labs, the scenario engine, the scenarios), ``labtwin.ot2_app`` (the OT-2 task app), and at the top
the command line (``labtwin.cli``) and firmware tools (``labtwin.tools``). This module and
``labtwin.errors`` / ``labtwin.board_firmware`` are the shared kernel every layer may use.
"""

__version__ = "0.1.0"
