# The device service: MQTT in, tasks run one at a time, results out (docs/protocol.md).
import asyncio
import gc
import os
import time
from binascii import hexlify

import command_codec
import firmware_version
import task_registry
from command_codec import BadRequest
from mqtt_client import MQTTClient
from task_registry import BadParameters, UnknownTask
from wifi_link import WifiLink


def log(message):
    print("[%d] %s" % (time.ticks_ms(), message))


class ResultCache:
    """The last `size` request_ids and their result payloads (bounded; oldest evicted first)."""

    def __init__(self, size):
        self.size = size
        self._order = []
        self._payloads = {}

    def get(self, request_id):
        return self._payloads.get(request_id)

    def put(self, request_id, payload):
        if request_id not in self._payloads:
            self._order.append(request_id)
            if len(self._order) > self.size:
                del self._payloads[self._order.pop(0)]
        self._payloads[request_id] = payload


class DeviceService:
    """Serves the task registry over MQTT for one device."""

    def __init__(self, config, client_class=MQTTClient):
        self.config = config
        self.device_id = config["device_id"]
        prefix = config["topic_prefix"]
        base = "%s/%s/" % (prefix, self.device_id)
        self.command_topic = base + "command"
        self.result_topic = base + "result"
        self.status_topic = base + "status"
        self.board = config["board"]
        self.max_payload = config["max_payload"]
        self.queue_size = config["queue_size"]
        self._queue = []
        self._queued_ids = set()
        self._work = asyncio.Event()
        self._results = ResultCache(config["dedup_size"])
        # New at every boot and sent in every status: an orchestrator that sees it change knows the
        # device restarted and forgot its dedup memory, so a waiting command must not be re-sent.
        self.boot = hexlify(os.urandom(4)).decode()
        task_registry.device_info.update(
            {"device_id": self.device_id, "board": self.board, "firmware": firmware_version.VERSION})
        offline = command_codec.status_payload(
            self.device_id, "offline", firmware_version.VERSION, self.board, self.boot)
        self.client = client_class(
            self.device_id, config["mqtt_host"], port=config["mqtt_port"],
            user=config["mqtt_user"], password=config["mqtt_password"],
            keepalive=config["mqtt_keepalive"], will=(self.status_topic, offline, True, 1),
            max_payload=self.max_payload,
            on_message=self._on_message, on_connect=self._on_connect, log=log)
        self.wifi = WifiLink(config["wifi_ssid"], config["wifi_password"], log)

    # --- MQTT callbacks -------------------------------------------------------------------

    async def _on_connect(self):
        online = command_codec.status_payload(
            self.device_id, "online", firmware_version.VERSION, self.board, self.boot, task_registry.catalogue())
        await self.client.publish(self.status_topic, online, qos=1, retain=True)
        log("online as %s (firmware %s, free heap %d)" % (self.device_id, firmware_version.VERSION, gc.mem_free()))

    def _on_message(self, topic, payload, retained, oversize):
        if topic != self.command_topic:
            # Some brokers push other clients' retained messages on connect: never a command.
            log("ignored message on %s" % topic)
            return
        if retained:
            # A retained command would re-run on every reconnect; refuse it.
            log("ignored retained command on %s" % topic)
            return
        try:
            request_id, task, parameters = command_codec.parse_command(payload, oversize, self.max_payload)
        except BadRequest as e:
            if e.request_id is None:
                log("dropped command without a usable request_id: %s" % e.message)
                return
            self._reply_error(e.request_id, e.task, "bad_request", e.message, remember=True)
            return
        stored = self._results.get(request_id)
        if stored is not None:
            log("duplicate %s: re-sending stored result" % request_id)
            asyncio.create_task(self._publish(stored))
            return
        if request_id in self._queued_ids:
            log("duplicate %s while it is pending: dropped" % request_id)
            return
        if len(self._queue) >= self.queue_size:
            self._reply_error(request_id, task, "busy", "command queue full (%d waiting)" % self.queue_size)
            return
        self._queue.append((request_id, task, parameters))
        self._queued_ids.add(request_id)
        self._work.set()

    # --- results --------------------------------------------------------------------------

    async def _publish(self, payload):
        await self.client.publish(self.result_topic, payload, qos=1)

    def _reply_error(self, request_id, task, code, message, remember=True):
        payload = command_codec.error_payload(self.device_id, request_id, task, code, message)
        if remember:
            self._results.put(request_id, payload)
        asyncio.create_task(self._publish(payload))

    async def _run_one(self, request_id, task, parameters):
        try:
            result = await task_registry.call(task, parameters)
            payload = command_codec.success_payload(self.device_id, request_id, task, result)
        except UnknownTask as e:
            payload = command_codec.error_payload(self.device_id, request_id, task, "unknown_task", str(e))
        except BadParameters as e:
            payload = command_codec.error_payload(self.device_id, request_id, task, "bad_parameters", str(e))
        except Exception as e:
            gc.collect()
            message = "%s: %s" % (type(e).__name__, e)
            log("task %s failed: %s" % (task, message))
            payload = command_codec.error_payload(self.device_id, request_id, task, "task_failed", message)
        # Remember before publishing: a duplicate arriving during the publish must not re-run it.
        self._results.put(request_id, payload)
        self._queued_ids.discard(request_id)
        await self._publish(payload)

    async def _worker(self):
        while True:
            await self._work.wait()
            self._work.clear()
            while self._queue:
                request_id, task, parameters = self._queue.pop(0)
                try:
                    await self._run_one(request_id, task, parameters)
                except Exception as e:  # MemoryError above all: one command must never end the worker
                    self._queued_ids.discard(request_id)
                    await self._salvage(request_id, task, e)

    async def _salvage(self, request_id, task, error):
        """Answer a command whose run or publish raised, allocating as little as possible; never raises."""
        gc.collect()
        if isinstance(error, MemoryError):
            message = "MemoryError: out of memory"
        else:
            message = type(error).__name__
        try:
            log("command %s failed in the device service: %s" % (request_id, message))
            payload = command_codec.error_payload(self.device_id, request_id, task, "task_failed", message)
            # Replaces a stored result that could not be published, so a retry gets this error.
            self._results.put(request_id, payload)
            await self._publish(payload)
        except Exception:
            gc.collect()
            try:
                log("could not answer %s: dropped" % request_id)
            except Exception:
                pass

    # --- lifecycle ------------------------------------------------------------------------

    async def run(self):
        """Join WiFi, connect, serve commands forever (reconnecting as needed)."""
        log("labtwin firmware %s on %s, device %s" % (firmware_version.VERSION, self.board, self.device_id))
        await self.client.subscribe(self.command_topic, 1)
        if self.wifi.enabled():
            await self.wifi.join()
            asyncio.create_task(self.wifi.supervise())
        asyncio.create_task(self._worker())
        await self.client.run()

    async def stop(self):
        """Announce offline and disconnect cleanly."""
        offline = command_codec.status_payload(
            self.device_id, "offline", firmware_version.VERSION, self.board, self.boot)
        if self.client.isconnected():
            await self.client.publish(self.status_topic, offline, qos=1, retain=True)
        await self.client.disconnect()

