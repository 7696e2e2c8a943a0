"""The simulated OT-2 behind the robot API: opentrons' hardware simulator, its pipettes and its door.

One :class:`SimulatedOT2` per served app, shared by every run, as the real robot shares its one
hardware controller. opentrons is imported only when :meth:`SimulatedOT2.start` runs, so building
the app stays cheap (opentrons' import takes about a second).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labtwin.errors import ConfigError
from labtwin.twin import vendor_patches

if TYPE_CHECKING:
    from opentrons.hardware_control import API as HardwareAPI
    from opentrons.protocol_engine import Config as EngineConfig

__all__ = ["DEFAULT_PIPETTES", "OT2_DECK_CONFIGURATION", "RobotSettings", "SimulatedOT2"]

DEFAULT_PIPETTES: dict[str, str] = {"left": "p20_single_v2.2", "right": "p300_single_v2.1"}
"""Mount -> pipette model: a common OT-2 set-up (GEN2 P20 and P300 single-channels)."""

OT2_DECK_CONFIGURATION: tuple[tuple[str, str], ...] = (
    *((f"cutout{slot}", "singleStandardSlot") for slot in range(1, 12)),
    ("cutout12", "fixedTrashSlot"),
)
"""An OT-2's fixed deck as (cutout, fixture) pairs: slots 1-11 plus the fixed trash in 12.

The engine refuses every load without a deck configuration; an OT-2's cannot change.
"""


@dataclass(frozen=True)
class RobotSettings:
    """What the simulated robot has attached and how fast it runs.

    Args:
        pipettes: mount ("left"/"right") -> pipette model (e.g. ``p300_single_v2.1``); a protocol
            that loads another pipette on a mount fails, as on the robot.
        delay_speedup: protocol delays (``protocol.delay``) last ``seconds / delay_speedup``;
            1 is real time. Pauses (``protocol.pause``) still wait for a play action.
        block_on_door_open: an opened door pauses a running protocol (``blocked-by-open-door``).
    """

    pipettes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PIPETTES))
    delay_speedup: float = 1.0
    block_on_door_open: bool = True

    def __post_init__(self) -> None:
        unknown = sorted(set(self.pipettes) - {"left", "right"})
        if unknown:
            raise ConfigError(f"unknown pipette mount(s) {unknown}: an OT-2 has 'left' and 'right'")
        if not self.delay_speedup > 0:
            raise ConfigError(f"delay_speedup must be > 0, got {self.delay_speedup!r}")


class SimulatedOT2:
    """The robot's hardware: started once per app, then shared by every run and route."""

    def __init__(self, settings: RobotSettings) -> None:
        self.settings = settings
        self._hardware: HardwareAPI | None = None
        self._door_open = False

    @property
    def hardware(self) -> HardwareAPI:
        """opentrons' simulated hardware controller (after :meth:`start`)."""
        if self._hardware is None:
            raise RuntimeError("the simulated OT-2 is not started")
        return self._hardware

    @property
    def door_open(self) -> bool:
        """Whether the front door is open."""
        return self._door_open

    def preflight(self) -> None:
        """Check the settings against opentrons (pipette models) and apply the delay speed-up.

        Raises:
            ConfigError: a pipette model is unknown or not an OT-2 pipette, or the installed
                opentrons is not the one labtwin's patches were written for
                (:class:`~labtwin.errors.UnsupportedVendorVersion`).
        """
        from opentrons_shared_data.pipette.pipette_load_name_conversions import is_model, supported_pipette

        for mount, model in self.settings.pipettes.items():
            try:
                known = is_model(model) and supported_pipette(model)  # type: ignore[arg-type]
            except (ValueError, IndexError, KeyError):
                known = False
            # OT-2 pipettes are GEN1 (v1.x) and GEN2 (v2.x); v3.x are the Flex's.
            if not known or not model.rsplit("_v", 1)[-1].startswith(("1.", "2.")):
                raise ConfigError(f"{model!r} ({mount} mount) is not an OT-2 pipette model; "
                                  "use one like p20_single_v2.2, p300_single_v2.1 or p300_multi_v2.1")
        vendor_patches.install_delay_speedup(self.settings.delay_speedup)

    async def start(self) -> None:
        """Build the hardware simulator with the configured pipettes and home it.

        Raises:
            ConfigError: see :meth:`preflight`.
        """
        from opentrons.hardware_control import API
        from opentrons.types import Mount

        self.preflight()
        attached: dict[Mount, dict[str, str | None]] = {
            Mount.LEFT if mount == "left" else Mount.RIGHT: {"model": model, "id": _serial_for(mount, model)}
            for mount, model in self.settings.pipettes.items()}
        try:
            hardware = await API.build_hardware_simulator(attached_instruments=attached)
        except Exception as exc:  # opentrons rejects unknown models with assorted errors
            raise ConfigError(f"cannot attach pipettes {self.settings.pipettes}: {exc}") from exc
        await hardware.cache_instruments()
        await hardware.home()
        self._hardware = hardware

    async def close(self) -> None:
        """Release the hardware simulator's tasks. Safe to call twice."""
        hardware, self._hardware = self._hardware, None
        if hardware is not None:
            await hardware.clean_up()

    def engine_config(self) -> EngineConfig:
        """The ProtocolEngine configuration of a run on this robot."""
        from opentrons.protocol_engine import Config, DeckType

        return Config(robot_type="OT-2 Standard", deck_type=DeckType.OT2_STANDARD,
                      block_on_door_open=self.settings.block_on_door_open,
                      # Modules are not simulated as hardware here: loadModule needs no attached module.
                      use_virtual_modules=True)

    def deck_configuration(self) -> list[tuple[str, str, str | None]]:
        """The deck configuration in the engine's form (cutout, fixture, serial)."""
        return [(cutout, fixture, None) for cutout, fixture in OT2_DECK_CONFIGURATION]

    async def set_door(self, is_open: bool) -> None:
        """Open or close the front door; a running protocol pauses when it opens."""
        self._door_open = is_open
        # The engines' door watchers block the switch until this loop handled the event, so the
        # switch must not run on this loop's thread.
        await asyncio.to_thread(vendor_patches.switch_door, self.hardware, is_open)

    async def home(self, mount: str | None = None) -> None:
        """Home the whole gantry, or only one mount's pipette (its Z and plunger)."""
        if mount is None:
            await self.hardware.home()
            return
        from opentrons.types import Mount

        await self.hardware.home_z(Mount.LEFT if mount == "left" else Mount.RIGHT)
        await self.hardware.home_plunger(Mount.LEFT if mount == "left" else Mount.RIGHT)

    def pipettes(self) -> dict[str, dict[str, Any] | None]:
        """Mount -> the attached pipette's facts (None when the mount is empty)."""
        found: dict[str, dict[str, Any] | None] = {"left": None, "right": None}
        for mount, info in self.hardware.attached_instruments.items():
            if info:
                found[mount.name.lower()] = dict(info)
        return found


def _serial_for(mount: str, model: str) -> str:
    """A stable, serial-shaped id for a simulated pipette (e.g. ``P300SV21LT01R``)."""
    return (model.replace("_single", "S").replace("_multi", "M").replace("_v", "V").replace(".", "").upper()
            + "LT01" + mount[0].upper())

