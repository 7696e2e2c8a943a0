"""Uploaded protocols and their analyses, produced by opentrons' engine in simulation.

An upload is checked by opentrons' ``ProtocolReader`` (the same reader the robot uses), stored on
disk under the app's data directory, and analysed in the background by a simulating
RunOrchestrator (as ``opentrons.cli.analyze`` does): the analysis lists the commands the protocol
would run, the labware, pipettes and modules it loads, and any error, with ``result`` ``ok`` or
``not-ok``. Runs are built from the stored :class:`ProtocolSource`.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from labtwin.twin.ot2.robot_api.responses import ApiError

if TYPE_CHECKING:
    from opentrons.protocol_reader import ProtocolSource

__all__ = ["MAX_FILE_NAME_BYTES", "MAX_PROTOCOLS", "StoredProtocol", "ProtocolStore", "UploadedFile"]

log = logging.getLogger("labtwin.twin.ot2_robot_api")

MAX_PROTOCOLS = 20
"""Protocols kept; uploading more deletes the oldest one that no run uses, as the robot does."""


MAX_FILE_NAME_BYTES = 255
"""The longest file name (in UTF-8 bytes) most file systems store."""


@dataclass(frozen=True)
class UploadedFile:
    """One file of a ``POST /protocols`` upload."""

    name: str
    content: bytes


@dataclass
class StoredProtocol:
    """One uploaded protocol: its source (for runs), its resource fields and its analyses."""

    id: str
    created_at: datetime
    source: ProtocolSource
    directory: Path
    key: str | None = None
    analyses: list[dict[str, Any]] = field(default_factory=list)
    analysis_task: asyncio.Task[None] | None = None

    def resource(self) -> dict[str, Any]:
        """The protocol as ``GET /protocols/{id}`` answers it."""
        from opentrons.protocol_reader import JsonProtocolConfig

        config = self.source.config
        return {
            "id": self.id,
            "createdAt": self.created_at.isoformat(),
            "protocolType": "json" if isinstance(config, JsonProtocolConfig) else "python",
            "protocolKind": "standard",
            "robotType": self.source.robot_type,
            "metadata": dict(self.source.metadata),
            "files": [{"name": file.path.name, "role": file.role.value} for file in self.source.files],
            "analysisSummaries": [{"id": analysis["id"], "status": analysis["status"]} for analysis in self.analyses],
            "key": self.key,
        }


class ProtocolStore:
    """Every protocol uploaded to one twin, kept under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._protocols: dict[str, StoredProtocol] = {}

    def all(self) -> list[StoredProtocol]:
        """Every stored protocol, oldest first."""
        return list(self._protocols.values())

    def get(self, protocol_id: str) -> StoredProtocol:
        """The protocol ``protocol_id``.

        Raises:
            ApiError: no such protocol (404).
        """
        try:
            return self._protocols[protocol_id]
        except KeyError:
            raise ApiError(404, "ProtocolNotFound", "Protocol Not Found",
                           f"Protocol {protocol_id} was not found.") from None

    async def add(self, files: Sequence[UploadedFile], key: str | None, in_use: set[str]) -> StoredProtocol:
        """Check, store and start analysing an upload; protocols in ``in_use`` are never evicted.

        Raises:
            ApiError: no files, a bad file name, or files opentrons rejects (422).
        """
        from opentrons.protocol_reader import ProtocolFilesInvalidError, ProtocolReader

        if not files:
            raise ApiError(422, "NoFiles", "No Files", "upload at least one file as the multipart field 'files'")
        protocol_id = str(uuid.uuid4())
        directory = self.root / protocol_id
        directory.mkdir(parents=True)
        try:
            paths = [self._write(directory, file) for file in files]
            source = await ProtocolReader().read_saved(files=paths, directory=directory)
        except (ProtocolFilesInvalidError, UnicodeDecodeError) as exc:
            # opentrons reads a .json file as UTF-8 text before it validates it.
            shutil.rmtree(directory, ignore_errors=True)
            raise ApiError(422, "ProtocolFilesInvalid", "Protocol File(s) Invalid", str(exc)) from exc
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        if source.robot_type != "OT-2 Standard":
            shutil.rmtree(directory, ignore_errors=True)
            raise ApiError(422, "ProtocolRobotTypeMismatch", "Protocol For Different Robot Type",
                           f"this protocol is for a {source.robot_type}; this robot is an OT-2 Standard")
        stored = StoredProtocol(id=protocol_id, created_at=datetime.now(UTC), source=source,
                                directory=directory, key=key)
        await self._evict_beyond(MAX_PROTOCOLS - 1, in_use)
        self._protocols[protocol_id] = stored
        analysis_id = str(uuid.uuid4())
        stored.analyses.append({"id": analysis_id, "status": "pending"})
        stored.analysis_task = asyncio.create_task(self._analyse(stored, analysis_id),
                                                   name=f"analysis of protocol {protocol_id}")
        return stored

    async def delete(self, protocol_id: str, in_use: set[str]) -> None:
        """Delete a protocol and its files.

        Raises:
            ApiError: no such protocol (404); a run uses it (409).
        """
        stored = self.get(protocol_id)
        if protocol_id in in_use:
            raise ApiError(409, "ProtocolUsedByRun", "Protocol Used by Run",
                           f"Protocol {protocol_id} is used by a run and cannot be deleted; delete the run first.")
        await self._drop(stored)

    async def close(self) -> None:
        """Wait for pending analyses, then delete every stored protocol."""
        for stored in list(self._protocols.values()):
            await self._drop(stored)

    async def wait_for_analyses(self) -> None:
        """Wait until no analysis is pending (for tests and scenarios)."""
        tasks = [p.analysis_task for p in self._protocols.values() if p.analysis_task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- internals ------------------------------------------------------------------------

    @staticmethod
    def _write(directory: Path, file: UploadedFile) -> Path:
        name = PurePosixPath(file.name.replace("\\", "/")).name
        if not name or name in {".", ".."} or "\0" in name or len(_utf8(name)) > MAX_FILE_NAME_BYTES:
            raise ApiError(422, "InvalidFileName", "Invalid File Name",
                           f"bad file name {file.name[:80]!r}: give a plain name of at most "
                           f"{MAX_FILE_NAME_BYTES} bytes")
        path = directory / name
        if path.exists():
            raise ApiError(422, "DuplicateFileName", "Duplicate File Name", f"two files are named {name!r}")
        path.write_bytes(file.content)
        return path

    async def _evict_beyond(self, keep: int, in_use: set[str]) -> None:
        for stored in list(self._protocols.values()):
            if len(self._protocols) <= keep:
                return
            if stored.id not in in_use:
                await self._drop(stored)

    async def _drop(self, stored: StoredProtocol) -> None:
        self._protocols.pop(stored.id, None)
        if stored.analysis_task is not None:
            # Not cancelled: an engine cancelled mid-run leaves its queue worker behind. Analyses
            # finish in well under a second for ordinary protocols.
            await asyncio.gather(stored.analysis_task, return_exceptions=True)
        shutil.rmtree(stored.directory, ignore_errors=True)

    async def _analyse(self, stored: StoredProtocol, analysis_id: str) -> None:
        try:
            analysis = await analyse(stored.source)
        except Exception as exc:  # an engine failure outside the protocol: report it, keep serving
            log.exception("analysing protocol %s", stored.id)
            analysis = {"status": "completed", "result": "not-ok", "robotType": stored.source.robot_type,
                        "errors": [{"id": str(uuid.uuid4()), "createdAt": datetime.now(UTC).isoformat(),
                                    "errorType": type(exc).__name__, "errorCode": "4000", "detail": str(exc),
                                    "errorInfo": {}, "wrappedErrors": []}],
                        "commands": [], "labware": [], "pipettes": [], "modules": [], "liquids": [],
                        "runTimeParameters": []}
        analysis["id"] = analysis_id
        for index, existing in enumerate(stored.analyses):
            if existing["id"] == analysis_id:
                stored.analyses[index] = analysis


def _utf8(name: str) -> bytes:
    """``name`` as UTF-8, or nothing storable (a lone surrogate from a badly encoded upload)."""
    try:
        return name.encode("utf-8")
    except UnicodeEncodeError:
        return b"\0" * (MAX_FILE_NAME_BYTES + 1)


async def analyse(source: ProtocolSource) -> dict[str, Any]:
    """Simulate ``source`` once on a fresh simulated robot; return the analysis (without ``id``)."""
    from opentrons.protocol_runner.create_simulating_orchestrator import create_simulating_orchestrator
    from opentrons.protocol_runner.run_orchestrator import ParseMode

    orchestrator = await create_simulating_orchestrator(robot_type=source.robot_type, protocol_config=source.config)
    await orchestrator.load(protocol_source=source, run_time_param_values=None, run_time_param_paths=None,
                            parse_mode=ParseMode.NORMAL)
    result = await orchestrator.run(deck_configuration=[])
    summary = result.state_summary.model_dump(mode="json")
    return {
        "status": "completed",
        "result": "not-ok" if summary["errors"] else "ok",
        "robotType": source.robot_type,
        "commands": [command.model_dump(mode="json") for command in result.commands],
        "errors": summary["errors"],
        "labware": summary["labware"],
        "pipettes": summary["pipettes"],
        "modules": summary["modules"],
        "liquids": summary["liquids"],
        "runTimeParameters": [parameter.model_dump(mode="json") for parameter in result.parameters],
    }
