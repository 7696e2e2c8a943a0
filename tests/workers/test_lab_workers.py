"""TwinLab(workers=N): the boards boot in worker processes, the lab process keeps the broker and the clients."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from labtwin.errors import ConfigError
from labtwin.scenarios.labs.twin_lab import TwinLab
from labtwin.scenarios.labs.twin_lab_options import TwinLabOptions
from labtwin.twin.brokers import mosquitto_available

DEVICES = [f"w-{i}" for i in range(5)]
BROKERS = ["amqtt", "mosquitto"] if mosquitto_available() else ["amqtt"]


@pytest.mark.parametrize("broker", BROKERS)
async def test_boards_in_two_workers_answer_like_boards_in_the_lab_process(broker: str) -> None:
    async with TwinLab(devices=DEVICES, broker=broker, workers=2, seed=4) as lab:
        workers = [psutil.Process(pid) for pid in lab.worker_pids]
        assert len(workers) == 2
        # Round robin: 3 boards' VMs under the first worker, 2 under the second, none under the lab process.
        assert sorted(len(worker.children()) for worker in workers) == [2, 3]
        for device_id in DEVICES:
            status = await lab.client(device_id).call("get_device_status")
            assert status["device_id"] == device_id
        readings = [(await lab.client(d).call("read_sensor", {"sensor_pin": 26}))["voltage"] for d in DEVICES]
    assert all(abs(volts - 1.10) < 0.05 for volts in readings)
    assert not any(worker.is_running() and worker.status() != psutil.STATUS_ZOMBIE for worker in workers)


async def test_a_board_keeps_its_seed_in_a_worker() -> None:
    """Sensor noise is seeded by the board's position in the lab, whichever process simulates it."""
    async def noisy_reads(workers: int) -> list[int]:
        async with TwinLab(devices=DEVICES[:3], workers=workers, seed=9) as lab:
            return [(await lab.client(d).call("read_sensor", {"sensor_pin": 26}))["raw_value"] for d in DEVICES[:3]]

    assert await noisy_reads(1) == await noisy_reads(2)


async def test_a_worker_lab_offers_no_hardware_and_says_why() -> None:
    async with TwinLab(devices=DEVICES[:2], workers=2) as lab:
        assert lab.capabilities == frozenset()
        with pytest.raises(ConfigError, match="runs in a worker process"):
            lab.board(DEVICES[0])


@pytest.mark.parametrize(("option", "value", "named"), [
    ("network_twin", True, "network twins"),
    ("consoles", True, "serial consoles"),
    ("ot2", True, "the OT-2 twins"),
    ("speed", "10", "lab time"),
])
def test_what_needs_the_boards_in_one_process_is_refused_with_workers(option: str, value: object,
                                                                     named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        TwinLabOptions(devices=DEVICES, workers=2, **{option: value})  # type: ignore[arg-type]


def test_workers_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="workers must be at least 1"):
        TwinLabOptions(workers=0)


async def test_a_worker_that_dies_while_its_boards_boot_is_named(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    from labtwin.errors import LabtwinError
    from labtwin.scenarios.labs import lab_workers

    started = lab_workers.LabWorkers.start

    async def start_then_one_dies(self: lab_workers.LabWorkers) -> None:
        await started(self)
        self.processes[1].kill()  # as the OOM killer would

    monkeypatch.setattr(lab_workers.LabWorkers, "start", start_then_one_dies)
    with pytest.raises(LabtwinError, match=r"lab worker 1 ended while its boards booted; see .*worker-1\.log"):
        async with TwinLab(devices=DEVICES[:4], workers=2, work_dir=tmp_path):
            pass
    assert not list(tmp_path.glob("worker-*/spec.json"))  # the boards' passwords do not stay on disk
