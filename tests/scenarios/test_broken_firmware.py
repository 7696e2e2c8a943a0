"""Keeping the scenarios honest: deliberately broken firmware must be caught and shrunk.

Each test copies the real firmware, breaks one behaviour the protocol promises, and runs the
scenario that guards it. A scenario suite that cannot fail proves nothing.
"""

from __future__ import annotations

from pathlib import Path

from labtwin.board_firmware import STOCK_FIRMWARE_DIR, copy_firmware
from labtwin.scenarios.engine.catalog import PROPERTY_SCENARIOS
from labtwin.scenarios.engine.runner import Budget, run_scenario
from labtwin.scenarios.labs.twin_lab import twin_lab_factory
from labtwin.twin.lab_time.speed import Speed


def broken_firmware(tmp_path: Path, filename: str, *edits: tuple[str, str]) -> Path:
    target = tmp_path / "firmware"
    copy_firmware(STOCK_FIRMWARE_DIR, target)
    path = target / filename
    text = path.read_text()
    for original, broken in edits:
        assert original in text, f"{filename} no longer contains {original!r}, which this test breaks: update it"
        text = text.replace(original, broken)
    path.write_text(text)
    return target


# At --speed max: the outcome is the same (lab time), the fault windows and recovery waits are jumped.
MAX = Speed.parse("max")


def test_duplicate_delivery_catches_firmware_without_request_id_dedup(tmp_path: Path):
    # Both dedup paths go: a stored result is not re-sent, and a pending duplicate is not dropped.
    firmware = broken_firmware(tmp_path, "device_service.py",
                               ("stored = self._results.get(request_id)", "stored = None"),
                               ("if request_id in self._queued_ids:", "if False:"))
    run = run_scenario(PROPERTY_SCENARIOS["duplicate-delivery"],
                       lab_factory=twin_lab_factory(firmware_dir=firmware, speed=MAX),
                       seed_value=0, budget=Budget(examples=30, steps=8),
                       progress=lambda line: None)
    assert not run.passed
    assert "ADC reads on the hardware" in (run.failure or "")
    minimal = [step.rule for step in run.shown_examples[-1].steps]
    assert minimal == ["fault.duplicate_commands", "pico-a.read_sensor"], minimal
    assert run.reproduce_blob and run.replay_command


def test_link_recovery_catches_firmware_that_forgets_to_resubscribe(tmp_path: Path):
    firmware = broken_firmware(tmp_path, "mqtt_client.py",
                               ("subs = list(self._subs.items())",
                                "subs = list(self._subs.items()) if self._gen == 1 else []"))
    run = run_scenario(PROPERTY_SCENARIOS["link-recovery"],
                       lab_factory=twin_lab_factory(firmware_dir=firmware, speed=MAX),
                       seed_value=0, budget=Budget(examples=30, steps=8),
                       progress=lambda line: None)
    assert not run.passed
    assert "not serving" in (run.failure or "")
    minimal = [step.rule for step in run.shown_examples[-1].steps]
    assert len(minimal) <= 3 and minimal[0].startswith("fault."), minimal
