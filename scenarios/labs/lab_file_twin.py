"""A twin lab built from a lab file: its boards (kind, firmware, settings) and their parts.

``twin_lab_options(config)`` turns a :class:`~labtwin.scenarios.labs.lab_file.LabConfig` into
:class:`~labtwin.scenarios.labs.twin_lab_options.TwinLabOptions`. Each board gets its
``[[boards.parts]]`` and its Wokwi ``wiring``; a board with neither gets the default bench (three
analog sensors and a servo, what the stock tasks use). The parts are wired once on scratch board
models when the options are built, so a pin taken twice or a pin without an ADC is reported with
its key path before anything starts; every lab start then builds them afresh, with fresh shared
quantities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from labtwin.board_firmware import STOCK_FIRMWARE_DIR, firmware_sources
from labtwin.errors import ConfigError
from labtwin.scenarios.labs.lab_file import BoardEntry, LabConfig
from labtwin.scenarios.labs.twin_lab_options import (
    BoardSetup,
    TwinLabKeywords,
    TwinLabOptions,
    wire_default_bench,
)
from labtwin.twin.board.model import BoardModel
from labtwin.twin.board.profiles import BOARD_PROFILES
from labtwin.twin.wiring.parts_library import PartContext, check_pins
from labtwin.twin.wiring.quantities import QuantityContext, build_shared_quantities

if TYPE_CHECKING:
    from labtwin.twin.parts.quantity import Quantity

__all__ = ["LabFileWiring", "board_parts", "twin_lab_options"]


def board_parts(config: LabConfig, board: BoardEntry) -> list[tuple[str, Any]]:
    """The parts of ``board`` with their key paths: its ``[[boards.parts]]``, then its Wokwi diagram's."""
    index = config.boards.index(board)
    parts: list[tuple[str, Any]] = [(f"{config.source}: boards[{index}].parts[{i}]", part)
                                    for i, part in enumerate(board.parts)]
    if board.wiring is not None:
        from pydantic import TypeAdapter

        from labtwin.twin.wiring.parts_library import PartSpec
        from labtwin.twin.wiring.wokwi import load_wokwi_diagram

        diagram = load_wokwi_diagram(board.wiring)
        if diagram.board_kind != board.kind:
            raise ConfigError(f"{config.source}: boards[{index}].wiring {board.wiring.name} is a {diagram.board_kind} "
                              f"diagram, but the board's kind is {board.kind}")
        adapter: TypeAdapter[Any] = TypeAdapter(PartSpec)
        parts += [(f"{board.wiring}: part {i}", adapter.validate_python(entry))
                  for i, entry in enumerate(diagram.parts)]
    return parts


@dataclass
class LabFileWiring:
    """The lab file's wiring as ``TwinLabOptions.lab_wiring``: called per lab start, wires each board."""

    config: LabConfig
    parts: dict[str, list[tuple[str, Any]]]

    def __call__(self) -> Callable[[str, BoardModel], None]:
        shared: dict[str, Quantity] = dict(build_shared_quantities(list(self.config.quantities)))

        def wire(device_id: str, model: BoardModel) -> None:
            parts = self.parts.get(device_id, [])
            if not parts:
                wire_default_bench(model)
                return
            seed = int.from_bytes(model.unique_id[:4], "big")
            for index, (where, spec) in enumerate(parts):
                context = PartContext(QuantityContext(self.config.base_dir, shared, seed + index), where)
                try:
                    spec.attach(model, context)
                except (ConfigError, ValueError) as exc:
                    message = str(exc)
                    raise ConfigError(message if message.startswith(where) else f"{where}: {message}") from None

        return wire


def twin_lab_options(config: LabConfig, **overrides: Unpack[TwinLabKeywords]) -> TwinLabOptions:
    """The options of the twin lab ``config`` describes, with ``overrides`` (seed, work dir, callbacks...).

    Raises:
        ConfigError: a board's firmware, settings or wiring is wrong (named by its key path).
    """
    for index, board in enumerate(config.boards):
        if board.firmware_dir is not None or board.firmware_overlay is not None:
            key = "firmware" if board.firmware_dir is not None else "firmware_overlay"
            try:
                firmware_sources(board.firmware_dir or STOCK_FIRMWARE_DIR, board.firmware_overlay)
            except ConfigError as exc:
                raise ConfigError(f"{config.source}: boards[{index}].{key}: {exc}") from None
    setups = {board.id: BoardSetup(board=board.kind, firmware_dir=board.firmware_dir,
                                   firmware_overlay=board.firmware_overlay, settings=board.settings, mpy=board.mpy)
              for board in config.boards}
    wiring = LabFileWiring(config, {board.id: board_parts(config, board) for board in config.boards})
    _dry_run(config, wiring)
    ot2 = config.ot2
    options: TwinLabKeywords = {
        "devices": config.device_ids, "broker": config.twin_broker, "topic_prefix": config.topic_prefix,
        "boards": setups, "lab_wiring": wiring,
        "ot2": ot2 is not None and ot2.task_app, "ot2_robot_api": ot2 is not None and ot2.robot_api,
    }
    options.update(overrides)
    return TwinLabOptions(**options)


def _dry_run(config: LabConfig, wiring: LabFileWiring) -> None:
    """Check every board's pins and wire its parts onto a scratch model, so a wiring mistake is reported
    now, by key path."""
    wire = wiring()
    for board in config.boards:
        model = BoardModel(BOARD_PROFILES[board.kind], seed=0, board_id=board.id)
        check_pins(wiring.parts.get(board.id, []), model)
        wire(board.id, model)
