"""`labtwin flash` against a twin board's serial console, the way it flashes a real board over USB."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import pytest
from bench_testkit import ServedLab

import labtwin.tools.flash
from labtwin.board_firmware import STOCK_FIRMWARE_DIR, copy_firmware
from labtwin.cli.main import main
from labtwin.scenarios.labs.bench_lab import BenchLab
from labtwin.scenarios.labs.lab_file import load_lab_config
from labtwin.tools.validation import record_pass

DEVICE = "pico-w-lab-001"


def firmware_with_version(tmp_path: Path, version: str) -> Path:
    firmware = tmp_path / "firmware"
    copy_firmware(STOCK_FIRMWARE_DIR, firmware)
    path = firmware / "firmware_version.py"
    path.write_text(re.sub(r'VERSION = "[^"]*"', f'VERSION = "{version}"', path.read_text()))
    return firmware


def retained_firmware(lab: ServedLab) -> str | None:
    async def read() -> str | None:
        async with BenchLab(load_lab_config(lab.bench)) as bench:
            status = await bench.client(DEVICE).wait_for_status("online", timeout=10)
            return status.firmware
    return asyncio.run(read())


def flash_argv(lab: ServedLab, firmware: Path, state: Path, *extra: str) -> list[str]:
    return ["flash", "--port", lab.console(DEVICE), "--device-id", DEVICE, "--lab", str(lab.bench),
            "--firmware-dir", str(firmware), "--state-dir", str(state), *extra]


def test_validated_firmware_is_flashed_and_its_version_comes_online(bench_env: ServedLab, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]):
    firmware = firmware_with_version(tmp_path, "0.1.0-flash-test")
    record_pass(tmp_path / "state", firmware, "sensor", 0, "amqtt")
    assert main(flash_argv(bench_env, firmware, tmp_path / "state")) == 0
    out = capsys.readouterr().out
    assert "board: linux (twin pico_w), MicroPython 1." in out
    assert re.search(r"copy 12/12: main\.py", out) and "verified 12 files by SHA-256" in out
    assert re.search(r"flashed pico-w-lab-001: firmware 0\.1\.0-flash-test .* online [\d.]+ s after reset", out)
    assert retained_firmware(bench_env) == "0.1.0-flash-test"
    flash_dir = bench_env.lab_dir / DEVICE / f"{DEVICE}.flash"
    assert (flash_dir / "firmware_version.py").read_text() == (firmware / "firmware_version.py").read_text()


def test_the_gate_refuses_unvalidated_firmware_before_touching_the_board(bench_env: ServedLab, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]):
    before = retained_firmware(bench_env)
    firmware = firmware_with_version(tmp_path, "0.1.0-never-validated")
    assert main(flash_argv(bench_env, firmware, tmp_path / "empty-state")) == 1
    err = capsys.readouterr().err
    assert re.search(r"firmware [0-9a-f]{12} .* no passing scenario record", err) and "--force" in err
    assert retained_firmware(bench_env) == before


def test_a_file_tampered_on_the_board_is_caught_and_never_reported_flashed(bench_env: ServedLab, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch,
                                                                           capsys: pytest.CaptureFixture[str]):
    flash_dir = bench_env.lab_dir / DEVICE / f"{DEVICE}.flash"
    real_hashes = labtwin.tools.flash._remote_hashes

    def tamper_then_hash(mpremote, names):  # the board's storage changes between copy and verify
        (flash_dir / "stock_tasks.py").write_bytes(b"# tampered\n")
        return real_hashes(mpremote, names)

    monkeypatch.setattr(labtwin.tools.flash, "_remote_hashes", tamper_then_hash)
    assert main(flash_argv(bench_env, STOCK_FIRMWARE_DIR, tmp_path, "--force")) == 1
    captured = capsys.readouterr()
    assert "NOT flashed: 1 file(s) on the board do not match: stock_tasks.py" in captured.err
    assert "flashed pico-w-lab-001" not in captured.out
    monkeypatch.setattr(labtwin.tools.flash, "_remote_hashes", real_hashes)
    assert main(flash_argv(bench_env, STOCK_FIRMWARE_DIR, tmp_path, "--force")) == 0  # a clean re-flash repairs it


def test_wrong_board_kind_and_a_silent_port_are_clear_errors(bench_env: ServedLab, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]):
    assert main(flash_argv(bench_env, STOCK_FIRMWARE_DIR, tmp_path, "--force", "--board", "esp32")) == 1
    assert "simulates a pico_w, not a esp32" in capsys.readouterr().err
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    argv = flash_argv(bench_env, STOCK_FIRMWARE_DIR, tmp_path, "--force")
    argv[argv.index("--port") + 1] = f"socket://127.0.0.1:{port}"
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "mpremote on socket://127.0.0.1:" in err and "Traceback" not in err


def test_mpy_flash_replaces_module_sources_with_bytecode(bench_env: ServedLab, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]):
    firmware = firmware_with_version(tmp_path, "0.1.0-mpy")
    assert main(flash_argv(bench_env, firmware, tmp_path, "--force", "--mpy")) == 0
    assert "firmware 0.1.0-mpy" in capsys.readouterr().out
    flash_dir = bench_env.lab_dir / DEVICE / f"{DEVICE}.flash"
    on_board = {path.name for path in flash_dir.iterdir()}
    assert {"main.py", "device_service.mpy", "mqtt_client.mpy"} <= on_board
    assert not {"device_service.py", "mqtt_client.py"} & on_board  # a .py would shadow its .mpy
    assert retained_firmware(bench_env) == "0.1.0-mpy"


def test_flash_with_the_lab_file_takes_the_boards_firmware_overlay_and_port_from_its_entry(
        bench_env: ServedLab, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # The lab's file: the served bench (broker, serial_port) plus the board's own firmware overlay.
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    version = (STOCK_FIRMWARE_DIR / "firmware_version.py").read_text()
    (overlay / "firmware_version.py").write_text(re.sub(r'VERSION = "[^"]*"', 'VERSION = "0.1.0-lab-overlay"',
                                                        version))
    (overlay / "lab_notes.txt").write_text("a data file the lab keeps on the board\n")
    text = bench_env.bench.read_text().replace(f'id = "{DEVICE}"', f'id = "{DEVICE}"\nfirmware_overlay = '
                                                                   f'"{overlay}"', 1)
    lab_file = tmp_path / "lab.toml"
    lab_file.write_text(text)
    state = tmp_path / "state"
    argv = ["flash", "--device-id", DEVICE, "--lab", str(lab_file), "--state-dir", str(state)]
    # Not validated yet: refused, naming the hash of the overlay laid over the stock firmware.
    assert main(argv) == 1
    assert "has no passing scenario record" in capsys.readouterr().err
    # A scenario on the file's twin validates this board's firmware; then it is flashed.
    assert main(["run", "sensor", "--lab", str(lab_file), "--twin", "--state-dir", str(state)]) == 0
    assert f"validated by 'sensor' on {DEVICE}" in capsys.readouterr().out
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"flashed pico-w-lab-001: firmware 0\.1\.0-lab-overlay .* online", out), out
    flash_dir = bench_env.lab_dir / DEVICE / f"{DEVICE}.flash"
    assert (flash_dir / "lab_notes.txt").read_text() == "a data file the lab keeps on the board\n"
    assert retained_firmware(bench_env) == "0.1.0-lab-overlay"
