"""Fault objects without processes: windows, no-op semantics, composition, sensor rewiring."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from testkit import ManualClock

from labtwin.twin.board.model import BoardModel
from labtwin.twin.board.process import SimulatedBoard
from labtwin.twin.board.profiles import PICO_W
from labtwin.twin.brokers import AmqttBroker
from labtwin.twin.faults.lab_faults import (
    BrokerOutage,
    BrownOut,
    DuplicateCommands,
    Fault,
    Latency,
    LinkDrop,
    Partition,
    PowerCut,
    SensorDisconnected,
    SensorDrift,
    SensorOutOfRange,
    SensorStuck,
    WifiLoss,
)
from labtwin.twin.models.adc import u16_to_volts
from labtwin.twin.network.network_twin import TO_BROKER, TO_DEVICE, NetworkTwin

SENSOR_VOLTS = 1.10


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=100.0)


@pytest.fixture
def link(clock: ManualClock) -> NetworkTwin:
    """A link that is never started: its controls work all the same."""
    return NetworkTwin("127.0.0.1", 1883, name="dev-1", clock=clock)


@pytest.fixture
def model(clock: ManualClock) -> BoardModel:
    m = BoardModel(PICO_W, seed=3, clock=clock, board_id="dev-1")
    m.power_on()
    m.adc.set_voltage(0, SENSOR_VOLTS)
    return m


@pytest.fixture
def board(tmp_path: Path) -> SimulatedBoard:
    """A board that is never started (no VM process)."""
    return SimulatedBoard(device_id="dev-1", profile=PICO_W, firmware_dir=tmp_path, device_config={},
                          work_dir=tmp_path, seed=0)


def volts(model: BoardModel, channel: int = 0, n: int = 1) -> np.ndarray:
    return np.array([u16_to_volts(model.adc.read_u16(channel)) for _ in range(n)])


async def test_windows_record_each_start_and_clear_in_clock_time(link: NetworkTwin, clock: ManualClock) -> None:
    fault = Partition(link)
    assert (fault.name, fault.target, fault.active, fault.windows) == ("Partition", "dev-1", False, [])
    await fault.clear()  # clearing an inactive fault is a no-op
    await fault.start()
    clock.advance(1.0)
    await fault.start()  # starting an active one too
    assert fault.active and link.black_holed and fault.windows == [(100.0, None)]
    clock.advance(2.0)
    await fault.clear()
    await fault.clear()
    clock.advance(1.0)
    await fault.start()
    assert fault.windows == [(100.0, 103.0), (104.0, None)]
    fault.windows.clear()  # a copy: the record cannot be edited from outside
    assert len(fault.windows) == 2


async def test_overlapping_link_faults_clear_independently(link: NetworkTwin) -> None:
    cut, cut_again = LinkDrop(link), LinkDrop(link)
    hole, wifi_hole = Partition(link), Partition(link)
    slow, slower = Latency(link, 0.01), Latency(link, 0.02, 0.005)
    twice = DuplicateCommands(link, 0.5)
    for fault in (cut, cut_again, hole, wifi_hole, slow, slower, twice):
        await fault.start()
    assert link.refusing and link.black_holed
    assert link.latency(TO_DEVICE) == pytest.approx((0.03, 0.005)) == link.latency(TO_BROKER)
    assert (link.duplicate_probability(TO_DEVICE), link.duplicate_probability(TO_BROKER)) == (0.5, 0.0)
    await cut.clear()
    await hole.clear()
    await slow.clear()
    assert link.refusing and link.black_holed and link.latency(TO_DEVICE) == pytest.approx((0.02, 0.005))
    for fault in (cut_again, wifi_hole, slower, twice):
        await fault.clear()
    assert not link.refusing and not link.black_holed
    assert link.latency(TO_DEVICE) == (0.0, 0.0) and link.duplicate_probability(TO_DEVICE) == 0.0


async def test_brown_out_is_a_one_shot_and_spares_an_unpowered_board(board: SimulatedBoard) -> None:
    clock = ManualClock(7.0)
    dip = BrownOut(board, clock=clock)
    await dip.start()
    assert dip.windows == [(7.0, 7.0)] and not dip.active and not board.running
    await dip.clear()
    assert dip.windows == [(7.0, 7.0)]


def test_every_fault_describes_itself_in_one_line(board: SimulatedBoard, link: NetworkTwin,
                                                  model: BoardModel) -> None:
    faults: list[Fault] = [
        Latency(link, 0.05, 0.01), LinkDrop(link), Partition(link), DuplicateCommands(link),
        BrokerOutage(AmqttBroker(port=1884)), PowerCut(board), BrownOut(board), WifiLoss(board, link),
        SensorStuck(model, 0, 2.0), SensorDisconnected(model, 1), SensorDrift(model, 2, 0.01),
        SensorOutOfRange(model, 0, 3.6),
    ]
    lines = [fault.describe() for fault in faults]
    for fault, line in zip(faults, lines, strict=True):
        assert "\n" not in line and line.startswith(f"{fault.name} on ")
    assert lines[0] == "Latency on dev-1: +50 ms ± 10 ms each way"
    assert lines[4] == "BrokerOutage on broker: broker stopped (port 1884)"
    assert lines[8] == "SensorStuck on dev-1: ADC channel 0 (GP26) stuck at 2.000 V"
    assert lines[10] == "SensorDrift on dev-1: ADC channel 2 (GP28) drifting +10 mV/s"


@pytest.mark.parametrize("make, message", [
    (lambda m: SensorStuck(m, 4, 1.0), "temperature sensor"),
    (lambda m: SensorStuck(m, 7, 1.0), "no ADC channel 7"),
    (lambda m: SensorOutOfRange(m, 0, 1.0), "inside the ADC's"),
    (lambda m: SensorDisconnected(m, 0, noise_volts=-1), "noise_volts"),
])
def test_impossible_sensor_faults_are_refused(model: BoardModel, make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        make(model)


def test_wifi_loss_needs_a_board_with_wifi(tmp_path: Path, link: NetworkTwin) -> None:
    wired = dataclasses.replace(PICO_W, name="pico", has_wifi=False)
    board = SimulatedBoard(device_id="dev-2", profile=wired, firmware_dir=tmp_path, device_config={},
                           work_dir=tmp_path, seed=0)
    with pytest.raises(ValueError, match="has no WiFi"):
        WifiLoss(board, link)


async def test_stuck_sensor_reads_the_stuck_voltage_until_cleared(model: BoardModel) -> None:
    bound = model.adc.noise_bound(0)
    stuck = SensorStuck(model, 0, 2.5)
    await stuck.start()
    assert np.all(np.abs(volts(model, n=50) - 2.5) <= bound)
    await stuck.clear()
    assert np.all(np.abs(volts(model, n=50) - SENSOR_VOLTS) <= bound)
    assert model.adc.signal_setting(0) == SENSOR_VOLTS


async def test_disconnected_sensor_floats_noisily_near_mid_rail(model: BoardModel) -> None:
    sigma = model.adc.noise_sigma(0)
    loose = SensorDisconnected(model, 0)
    await loose.start()
    floating = volts(model, n=400)
    assert abs(floating.mean() - 1.65) < 0.1 and floating.std() > 0.2
    await loose.clear()
    assert model.adc.noise_sigma(0) == sigma and volts(model, n=50).std() < 0.01


async def test_drifting_sensor_drifts_from_the_moment_it_starts(model: BoardModel, clock: ManualClock) -> None:
    drift = SensorDrift(model, 0, volts_per_s=0.02)
    clock.advance(5.0)
    await drift.start()
    assert model.adc_signal(0) == pytest.approx(SENSOR_VOLTS)
    clock.advance(10.0)
    assert model.adc_signal(0) == pytest.approx(SENSOR_VOLTS + 0.2)
    assert abs(volts(model)[0] - (SENSOR_VOLTS + 0.2)) <= model.adc.noise_bound(0)
    await drift.clear()
    assert model.adc_signal(0) == pytest.approx(SENSOR_VOLTS)


@pytest.mark.parametrize("driven, expected_u16", [(3.6, 65535), (-0.5, 0)])
async def test_out_of_range_input_saturates_the_reading(model: BoardModel, driven: float, expected_u16: int) -> None:
    fault = SensorOutOfRange(model, 0, driven)
    await fault.start()
    assert {model.adc.read_u16(0) for _ in range(50)} == {expected_u16}
    await fault.clear()
    assert abs(volts(model)[0] - SENSOR_VOLTS) <= model.adc.noise_bound(0)


@pytest.mark.parametrize("clear_drift_first", [True, False])
async def test_sensor_faults_on_one_channel_stack_and_clear_in_any_order(
        model: BoardModel, clock: ManualClock, clear_drift_first: bool) -> None:
    sigma = model.adc.noise_sigma(0)
    drift, loose = SensorDrift(model, 0, 0.1), SensorDisconnected(model, 0, level_volts=1.0, noise_volts=0.05)
    await drift.start()
    clock.advance(1.0)
    await loose.start()  # the wire comes off a drifting sensor: the input floats
    assert model.adc_signal(0) == pytest.approx(1.0) and model.adc.noise_sigma(0) == 0.05
    first, second = (drift, loose) if clear_drift_first else (loose, drift)
    await first.clear()
    expected = 1.0 if clear_drift_first else SENSOR_VOLTS + 0.1  # the drift counts from its own start
    assert model.adc_signal(0) == pytest.approx(expected)
    await second.clear()
    assert model.adc.signal_setting(0) == SENSOR_VOLTS and model.adc.noise_sigma(0) == sigma
    assert model.trace.samples("adc.1") == []  # other channels untouched
