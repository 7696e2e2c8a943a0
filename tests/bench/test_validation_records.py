"""Validation records: `labtwin run` notes which firmware passed which scenario; the flash gate reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from labtwin.board_firmware import STOCK_FIRMWARE_DIR, copy_firmware
from labtwin.cli.main import main
from labtwin.errors import ConfigError
from labtwin.tools.validation import passing_records, record_pass, require_validated


def test_the_gate_refuses_unvalidated_firmware_and_names_its_hash(tmp_path: Path):
    firmware = tmp_path / "firmware"
    copy_firmware(STOCK_FIRMWARE_DIR, firmware)
    with pytest.raises(ConfigError, match=r"firmware [0-9a-f]{12} .*`labtwin run SCENARIO --lab LAB.toml --twin`"):
        require_validated(tmp_path / "state", firmware)
    digest = record_pass(tmp_path / "state", firmware, "sensor", 0, "amqtt")
    assert require_validated(tmp_path / "state", firmware)[0] == digest
    (firmware / "main.py").write_text((firmware / "main.py").read_text() + "\n# edited\n")
    with pytest.raises(ConfigError):  # one changed byte is different firmware
        require_validated(tmp_path / "state", firmware)


def test_a_passing_run_records_its_firmware(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["run", "sensor", "--state-dir", str(tmp_path)]) == 0
    assert "validated by 'sensor'" in capsys.readouterr().out
    digest, records = require_validated(tmp_path, STOCK_FIRMWARE_DIR)
    assert [r["scenario"] for r in records] == ["sensor"] and passing_records(tmp_path, digest) == records
