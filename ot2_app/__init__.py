"""The OT-2 colour-mixing task app: CPython code deployed to the OT-2's own Python.

Run on the robot with ``python -m labtwin.ot2_app --host 0.0.0.0`` (token in ``$LABTWIN_OT2_TOKEN``);
the twin runs the very same command with ``--simulate``. See docs/ot2-twin.md.
"""
