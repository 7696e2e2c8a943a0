"""The orchestrator re-sends waiting commands when the device announces itself online again."""

from __future__ import annotations

import asyncio
import json

from orchestrator.mqtt_client import AsyncMQTTOrchestratorClient
from orchestrator.protocol import Topics


async def test_a_command_lost_while_the_device_was_away_is_sent_again_when_it_comes_online(broker, peer,
                                                                                           next_message):
    topics = Topics("dev-away")
    async with peer(broker) as device, AsyncMQTTOrchestratorClient(broker.host, "dev-away", broker.port,
                                                                   timeout=5.0) as client:
        await device.subscribe(topics.command, qos=1)
        call = asyncio.create_task(client.call("get_device_status"))
        first = json.loads((await next_message(device)).payload)
        # The device "missed" that one (it was reconnecting); it now subscribes and says it is online.
        online = {"device_id": "dev-away", "status": "online", "timestamp": 1.0, "firmware": "t", "protocol": 1}
        await device.publish(topics.status, json.dumps(online), qos=1, retain=True)
        again = json.loads((await next_message(device)).payload)
        assert again["request_id"] == first["request_id"] and again["task"] == "get_device_status"
        result = {"request_id": first["request_id"], "status": "success", "result": {"ok": True}, "timestamp": 2.0}
        await device.publish(topics.result, json.dumps(result), qos=1)
        assert await call == {"ok": True}
