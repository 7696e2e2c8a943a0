"""A small asyncio MQTT 3.1.1 client for the MicroPython boards.

Runs for real in the MicroPython VM (and on a Pico W); it also imports and runs
on CPython so unit tests can load it. It implements QoS 0 and 1 only, a clean
session on every connect (subscriptions are replayed instead), automatic
reconnect with backoff, keepalive, and a last will. See docs/mqtt-client.md.

One task owns each job: ``run()`` connects and supervises, a reader task
parses inbound packets, a pinger task keeps the connection alive. Writers
share one lock per connection because MicroPython's asyncio allows a single
task to wait for a socket to become writable.
"""

import asyncio
import gc

import mqtt_codec as codec

try:
    from time import ticks_diff, ticks_ms
except ImportError:  # CPython
    import time

    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b

_OVERSIZE_HEAD = 256  # bytes of an oversize payload handed to on_message
_DISCARD_MIN = 128  # receive buffer room behind an oversize head, for discarding the rest


def _why(e):
    # One short line for a log: "OSError [Errno 111] ECONNREFUSED".
    s = str(e).strip()  # mbedTLS errors come wrapped in newlines
    return type(e).__name__ + (" " + s if s else "")


class MQTTClient:
    """MQTT 3.1.1 client: ``run()`` keeps it connected; publish/subscribe from other tasks.

    ``will`` is ``(topic, payload, retain, qos)`` or None. ``on_message(topic,
    payload, retained, oversize)`` is a plain callback that must not block;
    ``payload`` is a memoryview into the receive buffer, valid only during the
    call (``bytes(payload)`` keeps a copy);
    ``on_connect`` an async function awaited (in its own task) after every
    (re)connect, once the subscriptions have been replayed.
    """

    # Backoff policy in seconds: fast retries after network errors so a device
    # is back within ~1 s of its broker, slow ones after a refusal (bad
    # credentials do not fix themselves; do not hammer the broker).
    RETRY_FIRST = 0.1
    RETRY_NET_MAX = 1.0
    RETRY_REFUSED_FIRST = 1.0
    RETRY_REFUSED_MAX = 30.0
    STABLE_MS = 2000  # a connection this old resets the backoff
    CONNECT_TIMEOUT = 5.0  # TCP connect + CONNECT/CONNACK

    def __init__(self, client_id, server, port=1883, user=None, password=None, keepalive=15,
                 will=None, ssl=None, max_payload=4096, on_message=None, on_connect=None, log=print,
                 server_hostname=None):
        self.client_id = client_id
        self.server = server
        self.port = port
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.will = will
        # TLS: a context that verifies the broker (device_config.tls_context); the name its
        # certificate must carry defaults to server. Never an unverified TLS connection.
        if ssl and ssl.verify_mode != 2:  # ssl.CERT_REQUIRED in CPython and MicroPython
            raise ValueError("TLS context does not verify")
        self.ssl = ssl
        self.server_hostname = server_hostname or server
        self.max_payload = max_payload
        self.on_message = on_message
        self.on_connect = on_connect
        self.log = log
        self._subs = {}  # topic filter -> qos; replayed on every connect
        self._inflight = {}  # pid -> [Event, packet, generation sent on (-1 never), seq, acked]
        self._acks = {}  # pid -> [Event, SUBACK codes or None if the connection dropped]
        self._r = self._w = self._wlock = self._oc = None  # stream, its write lock, on_connect task
        # Packet id, publish order, connection generation (+1 per CONNACK), tick stamps.
        self._pid = self._seq = self._gen = self._rx = self._tx = self._ping = 0
        self._sock_ok = self._stopping = self._running = False  # _sock_ok: socket writable
        self._ready = asyncio.Event()  # set while connected and subscriptions replayed
        self._lost = asyncio.Event()
        self._stop = asyncio.Event()
        self._done = asyncio.Event()
        # The receive buffer, allocated once: every inbound packet is read into it, so reading a
        # payload of up to max_payload bytes allocates nothing. A fresh block per payload failed
        # with MemoryError once the heap had no free block that big, and the connection dropped.
        # Collect first: placed among the imports' garbage, this long-lived block fragments the
        # heap (labtwin check firmware: the ESP32's peak rose by ~4 KB without this, ~1 KB with it).
        gc.collect()
        self._buf = bytearray(max(max_payload, _OVERSIZE_HEAD + _DISCARD_MIN))
        self._mv = memoryview(self._buf)

    def isconnected(self):
        """True while connected to the broker with subscriptions replayed."""
        return self._ready.is_set()

    async def run(self):
        """Connect and stay connected until ``disconnect()``; never raises for network errors."""
        self._running = True
        self._stopping = False
        self._stop = asyncio.Event()
        self._done = asyncio.Event()
        delay = 0
        try:
            while not self._stopping:
                if delay:
                    await self._pause(delay)
                    if self._stopping:
                        break
                t0 = ticks_ms()
                try:
                    rc = await asyncio.wait_for(self._connect(), self.CONNECT_TIMEOUT)
                except Exception as e:  # OSError, EOFError, TimeoutError, MQTTProtocolError
                    await self._close()
                    delay = min(delay * 2, self.RETRY_NET_MAX) if delay else self.RETRY_FIRST
                    self.log("mqtt: connect to %s:%d failed (%s); retry in %.1f s"
                             % (self.server, self.port, _why(e), delay))
                    continue
                if rc:
                    await self._close()
                    delay = min(max(delay * 2, self.RETRY_REFUSED_FIRST), self.RETRY_REFUSED_MAX)
                    self.log("mqtt: broker refused connection: CONNACK rc=%d (%s); retry in %.1f s"
                             % (rc, codec.CONNACK_REASONS.get(rc, "unknown"), delay))
                    continue
                if self._stopping:  # disconnect() was called while connecting
                    self._sock_ok, self._wlock = True, asyncio.Lock()
                    await self._send(codec.DISCONNECT_PACKET)
                    break
                self.log("mqtt: connected to %s:%d in %d ms" % (self.server, self.port, ticks_diff(ticks_ms(), t0)))
                try:
                    await self._session()
                except Exception as e:  # a bug must not end run(): log, reconnect
                    self.log("mqtt: session failed: %s" % _why(e))
                if ticks_diff(ticks_ms(), t0) >= self.STABLE_MS or not delay:
                    delay = self.RETRY_FIRST
                else:  # flapping connection: keep backing off
                    delay = min(delay * 2, self.RETRY_NET_MAX)
        finally:
            await self._close()
            self._running = False
            self._ready.clear()
            self._done.set()

    async def subscribe(self, topic, qos=1):
        """Subscribe now if connected (awaits SUBACK) and on every later reconnect.

        Returns the granted QoS (0x80 = refused by the broker), or None when
        not connected (the subscription is sent once the connection is up).
        """
        if qos not in (0, 1):
            raise ValueError("qos must be 0 or 1")
        codec.encode_subscribe(1, [(topic, qos)])  # raises ValueError now, not in every replay
        self._subs[topic] = qos
        if self._sock_ok:
            codes = await self._subscribe([(topic, qos)])
            return codes[0] if codes else None
        return None

    async def publish(self, topic, payload, qos=0, retain=False):
        """Publish; waits for the connection. QoS 1 returns once the broker acked it.

        A QoS 1 message unacked when the connection drops is resent (DUP=1,
        same packet id) after the reconnect. Raises OSError only if
        ``disconnect()`` is called before the message could be delivered.
        """
        if qos not in (0, 1):
            raise ValueError("qos must be 0 or 1")
        if qos == 0:
            pkt = codec.encode_publish(topic, payload, 0, retain)
            while True:
                await self._wait_ready()
                if await self._send(pkt):
                    return
        pid = self._new_pid()
        self._seq += 1
        entry = [asyncio.Event(), codec.encode_publish(topic, payload, 1, retain, False, pid), -1, self._seq, False]
        self._inflight[pid] = entry
        try:
            await self._wait_ready()
            await self._send(entry[1], entry)  # on failure run() resends it after the reconnect
            await entry[0].wait()
        finally:
            self._inflight.pop(pid, None)
        if not entry[4]:
            raise OSError("mqtt client stopped before PUBACK")

    async def disconnect(self):
        """Send DISCONNECT (so the broker drops the will), close and stop ``run()``."""
        self._stopping = True
        self._stop.set()
        if self._sock_ok:
            await self._send(codec.DISCONNECT_PACKET)
            self.log("mqtt: disconnected")
        self._sock_ok = False
        self._lost.set()
        # Wake every waiter so nothing waits forever on a stopped client.
        for e in self._inflight.values():
            e[0].set()
        for a in self._acks.values():
            a[0].set()
        self._ready.set()
        self._ready.clear()
        if self._oc is not None and not self._oc.done():
            self._oc.cancel()
        if self._running:
            await self._done.wait()

    async def _pause(self, seconds):
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _connect(self):
        # Returns the CONNACK return code; raises on network/protocol errors.
        if self.ssl is None:
            self._r, self._w = await asyncio.open_connection(self.server, self.port)
        else:  # the handshake (and its verification) runs on the first write
            self._r, self._w = await asyncio.open_connection(
                self.server, self.port, ssl=self.ssl, server_hostname=self.server_hostname)
        sock = getattr(self._w, "s", None)  # MicroPython's Stream keeps the socket here
        if sock is not None:
            try:
                sock.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY: no 40 ms Nagle stalls
            except (OSError, AttributeError):  # e.g. a TLS socket wrapper
                pass
        self._w.write(codec.encode_connect(self.client_id, self.keepalive, True, self.will,
                                           self.user, self.password))
        await self._w.drain()
        ptype, n = await self._read_header()
        if ptype != codec.CONNACK or n != 2:
            raise codec.MQTTProtocolError("expected CONNACK, got packet type %d" % ptype)
        await self._fill(0, 2)
        return codec.decode_connack(self._buf[:2])[1]

    async def _session(self):
        # Serve one accepted connection until it is lost or disconnect() is called.
        self._gen += 1
        self._wlock = asyncio.Lock()  # per connection: a writer stuck on a dead socket blocks nothing new
        self._lost = asyncio.Event()
        self._sock_ok = True
        self._rx = self._tx = ticks_ms()
        # Snapshot with no await since _sock_ok was set: later subscribe() calls send their own.
        subs = list(self._subs.items())
        tasks = [asyncio.create_task(self._reader())]
        if self.keepalive:
            tasks.append(asyncio.create_task(self._pinger()))
        try:
            if subs:
                await self._subscribe(subs)
            # Resend unacked QoS 1 messages in their original order.
            for entry in sorted(self._inflight.values(), key=lambda e: e[3]):
                await self._send(entry[1], entry)
            if self._sock_ok and not self._stopping:
                self._ready.set()
                if self.on_connect is not None:
                    # Its own task: on_connect may publish, which needs run() free to reconnect.
                    self._oc = asyncio.create_task(self._call_on_connect())
            await self._lost.wait()
        finally:
            self._sock_ok = False
            self._ready.clear()
            for t in tasks:
                t.cancel()
            for t in tasks:
                try:
                    await t
                except asyncio.CancelledError:
                    pass
            await self._close()

    async def _call_on_connect(self):
        try:
            await self.on_connect()
        except Exception as e:
            self.log("mqtt: on_connect failed: %s" % _why(e))

    async def _close(self):
        w = self._w
        self._r = self._w = None
        self._sock_ok = False
        if w is not None:
            try:
                w.close()
                await w.wait_closed()
            except Exception:  # already reset by the peer: nothing left to close
                pass

    def _drop(self, w, reason):
        # Mark connection w lost (once); run() does the cleanup and the reconnect.
        if w is self._w and self._sock_ok:
            self._sock_ok = False
            # Not ready from now on: a QoS 0 publish loop would otherwise find _wait_ready() and
            # _send() returning at once and spin without yielding, so run() never reconnects.
            self._ready.clear()
            self.log("mqtt: connection lost: %s" % reason)
            self._lost.set()
            for a in self._acks.values():  # SUBACK waiters: give up, the replay covers them
                a[0].set()

    async def _wait_ready(self):
        while True:
            if self._stopping:
                raise OSError("mqtt client stopped")
            if self._ready.is_set():
                return
            await self._ready.wait()

    def _new_pid(self):
        pid = self._pid
        for _ in range(65535):
            pid = pid % 65535 + 1  # 1..65535, never 0
            if pid not in self._inflight and pid not in self._acks:
                self._pid = pid
                return pid
        raise OSError("no free MQTT packet id")

    async def _send(self, pkt, entry=None):
        # Write one whole packet; returns False if the connection is not usable.
        # For a QoS 1 entry: send once per connection, DUP=1 when resent.
        lock = self._wlock
        if not self._sock_ok or lock is None:
            return False
        async with lock:
            w = self._w
            if not self._sock_ok or lock is not self._wlock:
                return False
            if entry is not None:
                if entry[2] == self._gen:
                    return True
                if entry[2] >= 0:
                    pkt[0] |= 0x08
                entry[2] = self._gen
            try:
                w.write(pkt)
                await w.drain()
            except Exception as e:  # OSError on a reset socket
                self._drop(w, "write failed (%s)" % _why(e))
                return False
            self._tx = ticks_ms()
            return True

    async def _subscribe(self, topics):
        pid = self._new_pid()
        entry = [asyncio.Event(), None]
        self._acks[pid] = entry
        try:
            if await self._send(codec.encode_subscribe(pid, topics)):
                await entry[0].wait()
        finally:
            self._acks.pop(pid, None)
        codes = entry[1]
        if codes:
            for i in range(min(len(codes), len(topics))):
                if codes[i] == codec.SUBACK_FAILURE:
                    self.log("mqtt: broker refused subscription to %s" % topics[i][0])
        return codes

    async def _pinger(self):
        # Ping when we sent nothing, or heard nothing, for keepalive/2 (a device
        # that only publishes QoS 0 hears nothing otherwise); give up after 1.5x.
        # Sleeps until the next of those is due rather than polling (a board that
        # wakes less sleeps more): traffic only moves them later, so a wake-up
        # that finds nothing due just works out the new deadline.
        ka = self.keepalive * 1000
        half = ka // 2
        w = self._w
        self._ping = ticks_ms()
        while True:
            now = ticks_ms()
            idle_rx = ticks_diff(now, self._rx)
            if idle_rx >= ka * 3 // 2:
                self._drop(w, "no packet from broker for %d ms" % idle_rx)
                return
            idle = max(ticks_diff(now, self._tx), idle_rx)
            since_ping = ticks_diff(now, self._ping)
            if idle >= half and since_ping >= half:
                self._ping = now
                await self._send(codec.PINGREQ_PACKET)
                continue
            due = min(ka * 3 // 2 - idle_rx, max(half - idle, half - since_ping))
            await asyncio.sleep(max(due, 20) / 1000)

    async def _fill(self, start, n):
        # Read exactly n bytes into self._buf[start:start+n].
        r = self._r
        end = start + n
        while start < end:
            mv = self._mv[start:end]
            if hasattr(r, "readinto"):
                k = await r.readinto(mv)
            else:  # CPython StreamReader
                data = await r.read(end - start)
                k = len(data)
                mv[:k] = data
            if k is None:  # spurious wake-up (EAGAIN)
                continue
            if not k:
                raise EOFError("connection closed by broker")
            start += k
        self._rx = ticks_ms()

    async def _read_header(self):
        # Fixed header: returns (packet type, remaining length); flags stay in self._buf[0].
        await self._fill(0, 1)
        codec.check_flags(self._buf[0] >> 4, self._buf[0] & 0x0F)
        i = 1
        while True:
            await self._fill(i, 1)
            if self._buf[i] < 0x80 or i == 4:
                break
            i += 1
        return self._buf[0] >> 4, codec.decode_remaining_length(self._buf, 1)[0]

    async def _reader(self):
        w = self._w
        try:
            while True:
                ptype, n = await self._read_header()
                if ptype == codec.PUBLISH:
                    await self._on_publish(self._buf[0] & 0x0F, n)
                elif ptype == codec.PUBACK:
                    pid = await self._read_pid(n)
                    entry = self._inflight.get(pid)
                    if entry is not None:
                        entry[4] = True
                        entry[0].set()
                elif ptype == codec.SUBACK:
                    if n < 3 or n > 2 + len(self._subs) + 1:
                        raise codec.MQTTProtocolError("SUBACK of %d bytes" % n)
                    await self._fill(0, n)
                    pid, codes = codec.decode_suback(self._mv[:n])
                    entry = self._acks.get(pid)
                    if entry is not None:
                        entry[1] = codes
                        entry[0].set()
                elif ptype == codec.PINGRESP:
                    if n:
                        raise codec.MQTTProtocolError("PINGRESP with a body")
                elif ptype == codec.UNSUBACK:
                    await self._read_pid(n)
                else:
                    raise codec.MQTTProtocolError("unexpected packet type %d from broker" % ptype)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # EOF, reset, malformed packet: drop and reconnect
            self._drop(w, _why(e))

    async def _read_pid(self, n):
        if n != 2:
            raise codec.MQTTProtocolError("ack of %d bytes" % n)
        await self._fill(0, 2)
        return codec.decode_pid(self._buf[:2])

    async def _on_publish(self, flags, n):
        if n < 2:
            raise codec.MQTTProtocolError("PUBLISH of %d bytes" % n)
        await self._fill(0, 2)
        qos, plen = codec.publish_payload_length(flags, n, (self._buf[0] << 8) | self._buf[1])
        if qos == 2:
            raise codec.MQTTProtocolError("QoS 2 PUBLISH (not subscribed at QoS 2)")
        head = n - plen - 2  # topic, then the packet id of a QoS 1 PUBLISH
        if head > len(self._buf):
            raise codec.MQTTProtocolError("PUBLISH topic longer than the %d-byte receive buffer" % len(self._buf))
        await self._fill(0, head)
        pid = 0
        if qos:
            head -= 2
            pid = codec.decode_pid(self._mv[head:head + 2])
        topic = codec.decode_topic(self._mv[:head])
        oversize = plen > self.max_payload
        k = min(plen, _OVERSIZE_HEAD) if oversize else plen
        await self._fill(0, k)
        left = plen - k
        while left:  # the rest of an oversize payload: discarded in chunks behind its head
            chunk = min(left, len(self._buf) - k)
            await self._fill(k, chunk)
            left -= chunk
        if self.on_message is not None:
            try:
                self.on_message(topic, self._mv[:k], bool(flags & 1), oversize)
            except Exception as e:  # a bug in the callback must not kill the connection
                self.log("mqtt: on_message failed: %s" % _why(e))
        if qos:
            await self._send(codec.encode_puback(pid))
