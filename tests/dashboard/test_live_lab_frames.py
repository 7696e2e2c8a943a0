"""LiveLab's frames carry only what changed; a page that subscribes gets the whole state first."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from labtwin.dashboard.live_lab import LiveLab
from labtwin.errors import ConfigError


@dataclass
class _Clock:
    t: float = 0.0

    def now(self) -> float:
        return self.t


@dataclass
class _BenchLikeLab:
    """A lab with MQTT only (no hardware, no faults), like a bench: what the read-only dashboard sees."""

    device_ids: list[str] = field(default_factory=lambda: ["pico-a", "pico-b"])
    capabilities: frozenset[Any] = frozenset()
    clock: _Clock = field(default_factory=_Clock)
    description: str = "bench lab test.toml"
    broker_address: None = None
    ot2_url: None = None


def _status(device: str) -> bytes:
    return json.dumps({"device_id": device, "status": "online", "firmware": "1.0"}).encode()


def test_a_frame_holds_only_the_boards_that_changed() -> None:
    lab = _BenchLikeLab()
    live = LiveLab(lab, topic_prefix="ot2")  # type: ignore[arg-type]
    first = live.frame()
    assert set(first["boards"]) == {"pico-a", "pico-b"}  # the first frame: every board

    live.mqtt.receive("ot2/pico-b/status", _status("pico-b"), now=1.0)
    second = live.frame()
    assert set(second["boards"]) == {"pico-b"}
    assert second["boards"]["pico-b"]["online"] is True
    assert live.frame()["boards"] == {}


def test_a_board_only_the_broker_shows_is_in_the_frames_too() -> None:
    live = LiveLab(_BenchLikeLab(), topic_prefix="ot2")  # type: ignore[arg-type]
    live.frame()
    live.mqtt.receive("ot2/pico-z/status", _status("pico-z"), now=1.0)
    assert set(live.frame()["boards"]) == {"pico-z"}
    assert "pico-z" in live.snapshot()["boards"]


def test_a_boards_history_is_served_on_request() -> None:
    live = LiveLab(_BenchLikeLab(), topic_prefix="ot2")  # type: ignore[arg-type]
    result = {"request_id": "r", "task": "read_sensor", "device_id": "pico-a", "status": "success",
              "result": {"voltage": 1.5}}
    live.mqtt.receive("ot2/pico-a/result", json.dumps(result).encode(), now=2.0)
    assert live.series("pico-a") == {"mqtt:read_sensor.voltage": [(2.0, 1.5)]}
    assert "series" not in live.snapshot()  # a page asks for the board it opens
    with pytest.raises(ConfigError, match="no board 'nope'"):
        live.series("nope")


def test_result_samples_are_sent_once() -> None:
    live = LiveLab(_BenchLikeLab(), topic_prefix="ot2")  # type: ignore[arg-type]
    result = {"request_id": "r", "task": "read_sensor", "device_id": "pico-a", "status": "success",
              "result": {"voltage": 1.5}}
    live.mqtt.receive("ot2/pico-a/result", json.dumps(result).encode(), now=2.0)
    assert live.frame()["series"] == {"pico-a": {"mqtt:read_sensor.voltage": [(2.0, 1.5)]}}
    assert live.frame()["series"] == {}


async def test_a_subscriber_gets_the_snapshot_then_frames() -> None:
    lab = _BenchLikeLab()
    live = LiveLab(lab, topic_prefix="ot2", interval=0.01)  # type: ignore[arg-type]
    live.mqtt.receive("ot2/pico-a/status", _status("pico-a"), now=0.5)
    async with live.subscribe() as (snapshot, frames):
        assert snapshot["kind"] == "snapshot" and snapshot["boards"]["pico-a"]["online"] is True
        assert snapshot["fault_menu"] == {} and snapshot["twin"] is False  # read-only: no controls
        ticker = asyncio.create_task(live._tick())  # the frame ticker alone: this lab has no broker to follow
        try:
            lab.clock.t = 3.0
            frame = await asyncio.wait_for(frames.get(), timeout=5)
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
    assert frame["kind"] == "frame" and frame["now"] == 3.0


async def test_a_read_only_lab_refuses_fault_controls() -> None:
    live = LiveLab(_BenchLikeLab(), topic_prefix="ot2")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no 'faults' capability"):
        await live.start_fault("pico-a", "power_cut")


def test_a_non_positive_interval_is_refused() -> None:
    with pytest.raises(ConfigError, match="interval must be positive"):
        LiveLab(_BenchLikeLab(), topic_prefix="ot2", interval=0)  # type: ignore[arg-type]
