"""The OT-2 robot API twin: the Opentrons robot's own HTTP API (port 31950), served by labtwin.

Protocols, analyses, runs and commands run on opentrons' ProtocolEngine in simulation; see
docs/ot2-robot-api.md for what is implemented. The app is built by
:func:`labtwin.twin.ot2.robot_api.app.create_app` and served by ``python -m labtwin.twin.ot2.robot_api``. This
package module imports nothing, so the CLI can read the twin's options without loading FastAPI.
"""
