# WiFi station link: join the configured network and rejoin after a loss.
#
# WLAN has no "disconnected" event, so a small supervisor polls isconnected(); the MQTT
# client's own backoff covers the broker side.
import asyncio

try:
    import network
except ImportError:  # a port without WiFi (e.g. plain unix): nothing to do
    network = None

POLL_MS = 100
CHECK_EVERY_MS = 1000


class WifiLink:
    """Keeps a station interface joined to one SSID."""

    def __init__(self, ssid, password, log, timeout_ms=15000):
        self.ssid = ssid
        self.password = password
        self.log = log
        self.timeout_ms = timeout_ms
        self.wlan = None
        if network is not None and ssid:
            self.wlan = network.WLAN(network.STA_IF)

    def enabled(self):
        return self.wlan is not None

    def isconnected(self):
        return self.wlan is None or self.wlan.isconnected()

    async def join(self):
        """Join the network; returns True when connected within the timeout."""
        if self.wlan is None:
            return True
        wlan = self.wlan
        wlan.active(True)
        if wlan.isconnected():
            return True
        wlan.connect(self.ssid, self.password)
        waited = 0
        while waited < self.timeout_ms:
            status = wlan.status()
            if wlan.isconnected():
                self.log("wifi: joined %r, ip %s" % (self.ssid, wlan.ifconfig()[0]))
                return True
            if status < 0:
                # Negative cyw43 status: wrong password, no AP found, join failed.
                self.log("wifi: join %r failed, status %d" % (self.ssid, status))
                return False
            await asyncio.sleep_ms(POLL_MS)
            waited += POLL_MS
        self.log("wifi: join %r timed out after %d ms" % (self.ssid, self.timeout_ms))
        return False

    async def supervise(self):
        """Rejoin whenever the link drops; runs forever."""
        backoff_ms = 500
        while True:
            if self.isconnected():
                backoff_ms = 500
                await asyncio.sleep_ms(CHECK_EVERY_MS)
                continue
            self.log("wifi: link down, rejoining")
            if not await self.join():
                await asyncio.sleep_ms(backoff_ms)
                backoff_ms = min(backoff_ms * 2, 10000)
