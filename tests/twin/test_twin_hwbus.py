"""HardwareBus: handshake, request/reply round trips, errors, shutdown."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from labtwin.twin.board.bus import PROTOCOL_VERSION, HardwareBus
from labtwin.twin.board.model import BoardModel


async def call(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, msg: Any) -> Any:
    writer.write((json.dumps(msg) if not isinstance(msg, bytes) else msg.decode()).encode() + b"\n")
    await writer.drain()
    return json.loads(await asyncio.wait_for(reader.readline(), 5))


async def connect(bus: HardwareBus, token: str | None = None,
                  version: int = PROTOCOL_VERSION) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Any]:
    reader, writer = await asyncio.open_connection(*bus.address)
    reply = await call(reader, writer, ["hello", version, bus.token if token is None else token])
    return reader, writer, reply


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    await writer.wait_closed()


async def test_address_and_env(bus: HardwareBus) -> None:
    host, port = bus.address
    assert host == "127.0.0.1" and port > 0
    assert bus.env == {"LABTWIN_HWBUS": f"127.0.0.1:{port}", "LABTWIN_HWBUS_TOKEN": bus.token}
    assert len(bus.token) >= 32 and bus.running


async def test_round_trips(bus: HardwareBus, model: BoardModel) -> None:
    reader, writer, hello = await connect(bus)
    try:
        assert hello == [1, {"board": "pico_w", "machine": "Raspberry Pi Pico W with RP2040", "wifi": True,
                             "port": "rp2", "version": PROTOCOL_VERSION}]
        model.adc.set_noise(0, 0.0)
        model.adc.set_voltage(0, 3.3)
        assert await call(reader, writer, ["adc_init", 26]) == [1, 0]
        assert await call(reader, writer, ["adc_read_u16", 0]) == [1, 65535]
        assert await call(reader, writer, ["pin_init", "LED", True, 1]) == [1, "EXT_GPIO0"]
        assert await call(reader, writer, ["pin_value", "EXT_GPIO0", 1]) == [1, None]
        assert model.led
        assert await call(reader, writer, ["pin_init", 42, False]) == [0, "ValueError", "invalid pin"]
        assert await call(reader, writer, ["wlan_connect", 0, "x", "y"]) == [0, "OSError", 1]
        assert (await call(reader, writer, ["nope"]))[:2] == [0, "NotImplementedError"]
        assert (await call(reader, writer, b"{not json"))[:2] == [0, "OSError"]
        assert (await call(reader, writer, {"op": 1}))[:2] == [0, "OSError"]
        assert bus.requests == 9 and bus.internal_errors == []
    finally:
        await close(writer)


@pytest.mark.parametrize("token, version, error", [
    ("wrong-token", PROTOCOL_VERSION, "labtwin hwbus: bad token"),
    (None, 99, "protocol version 99 not supported"),
])
async def test_bad_hello_is_rejected_and_closed(bus: HardwareBus, token: str | None, version: int,
                                                error: str) -> None:
    reader, writer, reply = await connect(bus, token, version)
    try:
        assert reply[:2] == [0, "OSError"] and error in reply[2]
        assert await asyncio.wait_for(reader.read(), 5) == b""  # server hung up
        assert bus.requests == 0
    finally:
        await close(writer)


async def test_first_line_must_be_hello(bus: HardwareBus) -> None:
    reader, writer = await asyncio.open_connection(*bus.address)
    try:
        assert await call(reader, writer, ["adc_read_u16", 0]) == [0, "OSError", "labtwin hwbus: expected hello"]
        assert await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        await close(writer)


async def test_model_bugs_become_runtime_errors(bus: HardwareBus, model: BoardModel,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> None:
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(model, "dispatch", broken)
    reader, writer, _ = await connect(bus)
    try:
        reply = await call(reader, writer, ["freq"])
        assert reply[:2] == [0, "RuntimeError"] and "oops" in reply[2]
        assert len(bus.internal_errors) == 1
    finally:
        await close(writer)


async def test_stop_drops_connections(model: BoardModel) -> None:
    bus = HardwareBus(model, token="t0ken")
    await bus.start()
    reader, writer, reply = await connect(bus)
    assert reply[0] == 1
    await bus.stop()
    try:
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert not bus.running
        with pytest.raises(RuntimeError):
            bus.address  # noqa: B018
    finally:
        await close(writer)
    await bus.stop()  # idempotent
