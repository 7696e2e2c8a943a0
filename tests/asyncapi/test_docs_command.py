"""`labtwin docs`: the AsyncAPI document of a running lab, read from a twin or from a bench's broker."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft7Validator

from labtwin.cli.main import main
from labtwin.errors import LabtwinError
from labtwin.scenarios.labs.twin_lab import TwinLab
from labtwin.tools.lab_catalogues import read_catalogues

DEVICE = "pico-w-lab-001"


def _labtwin(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OT_API_CONFIG_DIR": str(cwd / "opentrons")}
    return subprocess.run([sys.executable, "-m", "labtwin", *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)


def test_docs_writes_the_default_twins_asyncapi_document(tmp_path: Path, validator: Draft7Validator) -> None:
    run = _labtwin("docs", "--out", str(tmp_path / "docs"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "starting the default twin lab (one Pico W) to read its task catalogues ..." in run.stdout
    assert f"wrote {tmp_path / 'docs' / 'asyncapi.json'}: AsyncAPI 3.0.0, 1 board" in run.stdout
    assert "no OT-2 task server in this lab" in run.stdout
    document = json.loads((tmp_path / "docs" / "asyncapi.json").read_text(encoding="utf-8"))
    assert validator.is_valid(document)
    assert sorted(channel["address"] for channel in document["channels"].values()) == [
        f"ot2/{DEVICE}/command", f"ot2/{DEVICE}/result", f"ot2/{DEVICE}/status"]
    commands = document["components"]["messages"][f"{DEVICE}.command"]["payload"]["oneOf"]
    tasks = {ref["$ref"].rsplit("/", 1)[1].split(".")[1] for ref in commands}
    assert {"control_led", "read_sensor", "get_device_status"} <= tasks  # the stock firmware's catalogue
    assert not (tmp_path / "docs" / "openapi-ot2.json").exists()


def test_an_unknown_lab_file_is_one_error_line(tmp_path: Path) -> None:
    run = _labtwin("docs", "--lab", "no-such-lab.toml", "--out", str(tmp_path / "docs"), cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        "labtwin: error: cannot read lab file no-such-lab.toml: No such file or directory"]
    assert not (tmp_path / "docs").exists()


def test_bench_without_a_lab_file_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["docs", "--bench"]) == 1
    assert capsys.readouterr().err == ("labtwin: error: --twin and --bench choose between the two sides of a lab "
                                       "file: give --lab LAB.toml\n")


async def test_a_bench_is_read_through_its_broker_with_its_ot2_openapi(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, validator: Draft7Validator) -> None:
    monkeypatch.setenv("OT_API_CONFIG_DIR", str(tmp_path / "opentrons"))
    async with TwinLab(devices=[DEVICE], topic_prefix="bench7", ot2=True) as lab:
        address = lab.broker_address
        assert address is not None and address.username and address.password and lab.ot2_url
        monkeypatch.setenv("DOCS_TEST_USER", address.username)
        monkeypatch.setenv("DOCS_TEST_PASSWORD", address.password)
        bench = tmp_path / "bench.toml"  # a bench file as `labtwin serve lab` writes one, reaching this lab
        bench.write_text(f'topic_prefix = "bench7"\n[broker]\nurl = "{address.url}"\nusername_env = "DOCS_TEST_USER"\n'
                         f'password_env = "DOCS_TEST_PASSWORD"\n[[boards]]\nid = "{DEVICE}"\n'
                         f'[ot2]\ntask_server_url = "{lab.ot2_url}"\n', encoding="utf-8")
        out = tmp_path / "docs"
        # main() runs its own event loop: in a thread, while this one serves the lab.
        assert await asyncio.to_thread(main, ["docs", "--lab", str(bench), "--out", str(out)]) == 0
        published = lab.client(DEVICE).status
        assert published is not None
    document = json.loads((out / "asyncapi.json").read_text(encoding="utf-8"))
    assert validator.is_valid(document)
    assert document["channels"][f"{DEVICE}.status"]["address"] == f"bench7/{DEVICE}/status"
    assert document["servers"]["broker"]["host"] == f"{address.host}:{address.port}"
    assert address.password not in json.dumps(document)
    commands = document["components"]["messages"][f"{DEVICE}.command"]["payload"]["oneOf"]
    assert len(commands) == len(published.tasks)
    openapi = json.loads((out / "openapi-ot2.json").read_text(encoding="utf-8"))
    assert openapi["openapi"].startswith("3.") and "/tasks" in openapi["paths"]


async def test_a_board_without_a_status_is_named_in_the_error() -> None:
    async with TwinLab(devices=[DEVICE]) as lab:
        assert lab.broker_address is not None
        with pytest.raises(LabtwinError) as raised:
            await read_catalogues(lab.broker_address, [DEVICE, "pico-ghost"], topic_prefix="ot2", timeout=1.0)
        catalogues = await read_catalogues(lab.broker_address, [DEVICE], topic_prefix="ot2", timeout=10.0)
    message = str(raised.value)
    assert message.startswith("no task catalogue within 1 s on mqtt://127.0.0.1:")
    assert "no status from pico-ghost" in message and DEVICE not in message
    assert "get_device_status" in catalogues[DEVICE]
