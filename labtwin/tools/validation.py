"""Which firmware passed which scenarios: the records `labtwin flash` checks before it flashes.

`labtwin run` records every scenario that passes on a twin lab against the exact firmware it ran
(its content hash, :func:`labtwin.board_firmware.firmware_hash`), in ``STATE_DIR/validated/HASH.json``.
:func:`require_validated` refuses firmware with no passing record, naming the hash and the command
that would validate it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from labtwin import __version__
from labtwin.board_firmware import firmware_hash
from labtwin.errors import ConfigError

__all__ = ["passing_records", "record_pass", "require_validated"]


def _path(state_dir: Path, digest: str) -> Path:
    return state_dir / "validated" / f"{digest}.json"


def passing_records(state_dir: Path, digest: str) -> list[dict[str, Any]]:
    """The passing runs recorded for firmware ``digest`` (oldest first; empty if none or unreadable)."""
    try:
        records = json.loads(_path(state_dir, digest).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [record for record in records if isinstance(record, dict)] if isinstance(records, list) else []


def record_pass(state_dir: Path, firmware_dir: Path, scenario: str, seed: int, broker: str, *,
                overlay: Path | None = None, device_id: str | None = None, board: str | None = None) -> str:
    """Record that ``scenario`` passed on a twin lab running ``firmware_dir`` (with ``overlay`` laid over it),
    on board ``device_id`` of kind ``board`` when given.

    Returns the firmware hash.
    """
    digest = firmware_hash(firmware_dir, overlay)
    records = passing_records(state_dir, digest)
    record: dict[str, Any] = {"scenario": scenario, "seed": seed, "broker": broker, "labtwin": __version__,
                              "passed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if device_id is not None:
        record.update(device_id=device_id, board=board)
    records.append(record)
    path = _path(state_dir, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(records, indent=1), encoding="utf-8")
    temporary.replace(path)
    return digest


def require_validated(state_dir: Path, firmware_dir: Path, overlay: Path | None = None,
                      ) -> tuple[str, list[dict[str, Any]]]:
    """The firmware's hash (``overlay`` laid over ``firmware_dir``) and its passing records.

    Raises:
        ConfigError: no scenario has passed against this exact firmware.
    """
    digest = firmware_hash(firmware_dir, overlay)
    records = passing_records(state_dir, digest)
    if not records:
        raise ConfigError(f"firmware {digest[:12]} (in {firmware_dir}) has no passing scenario record in "
                          f"{state_dir / 'validated'}; validate it first: a scenario that passes on the twin of "
                          "this board's lab file (`labtwin run SCENARIO --lab LAB.toml --twin`, e.g. "
                          "sensor-property), or flash anyway with --force")
    return digest, records
