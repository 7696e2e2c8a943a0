"""WiFi model of a CYW43 station (and a minimal access point), cyw43 link states.

``connect()`` starts an association that resolves after ``association_delay``
seconds of lab time: to ``STAT_GOT_IP`` with the configured SSID and
password, ``STAT_WRONG_PASSWORD`` with a wrong password, ``STAT_NO_AP_FOUND``
for an unknown SSID or while the lab's access point is gone
(:meth:`WifiModel.lose_access_point`, the WiFi-loss fault). Status values are
the cyw43 driver's ``CYW43_LINK_*`` numbers that MicroPython's ``network.STAT_*``
constants take on a Pico W.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from labtwin.twin.clock import Clock
from labtwin.twin.models.mp import EPERM, MicroPythonError
from labtwin.twin.models.trace import Trace

__all__ = [
    "STAT_CONNECTING", "STAT_CONNECT_FAIL", "STAT_GOT_IP", "STAT_IDLE", "STAT_NO_AP_FOUND",
    "STAT_WRONG_PASSWORD", "WifiModel",
]

# CYW43_LINK_* values (cyw43-driver cyw43.h), exported by MicroPython as network.STAT_*.
STAT_IDLE = 0  # CYW43_LINK_DOWN
STAT_CONNECTING = 1  # CYW43_LINK_JOIN
STAT_GOT_IP = 3  # CYW43_LINK_UP
STAT_CONNECT_FAIL = -1  # CYW43_LINK_FAIL
STAT_NO_AP_FOUND = -2  # CYW43_LINK_NONET
STAT_WRONG_PASSWORD = -3  # CYW43_LINK_BADAUTH

STA_IF, AP_IF = 0, 1
_NO_IP = ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")


@dataclass
class _Join:
    ssid: str
    started: float
    outcome: int


class WifiModel:
    """One wireless chip: a station interface and an access-point interface.

    Args:
        clock: lab clock; association progresses with ``clock.now()``.
        ssid: the lab network's SSID.
        password: its password.
        mac: station MAC address (6 bytes); the AP's is the same +1 in the last byte.
        ip: address the station gets.
        hostname: ``network.hostname()`` after boot.
        association_delay: seconds from ``connect()`` to the outcome.
        trace: where link status changes go, as ``wifi.status``.
    """

    def __init__(self, clock: Clock, *, ssid: str, password: str, mac: bytes, ip: str,
                 hostname: str = "PicoW", association_delay: float = 0.3,
                 trace: Trace | None = None) -> None:
        self._clock = clock
        self.ssid, self.password = ssid, password
        self.mac = bytes(mac)
        self.ip = ip
        self.association_delay = association_delay
        self._default_hostname = hostname
        self._trace = trace
        self._last_status: int | None = None
        self.on_link: Callable[[bytes], None] | None = None
        """Called with :meth:`link_state` whenever the station's status changes (the board's link file)."""
        # The access point belongs to the lab, not the board: a power cycle does not bring it back.
        self._ap_present = True
        self.reset()

    def reset(self) -> None:
        """Power-on state: both interfaces down, default hostname."""
        self.hostname = self._default_hostname
        self._active = [False, False]
        self._join: _Join | None = None
        self._ap_ssid = "PICO" + self.mac[-3:].hex().upper()
        self._ap_password = "picoW123"
        self._static: list[tuple[str, str, str, str] | None] = [None, None]
        self._status_changed()

    def _status_changed(self) -> None:
        status = self._sta_status()
        if status == self._last_status:
            return
        self._last_status = status
        if self.on_link is not None:
            self.on_link(self.link_state())
        if self._trace is not None:
            t = self._clock.now()
            if self._join is not None and status == self._join.outcome:
                t = self._join.started + self.association_delay  # when it happened, not when seen
            self._trace.record("wifi.status", t, status)

    def link_state(self) -> bytes:
        """The station's link as its VM may read it without asking: ``b"1"`` joined, ``b"0"`` not,
        ``b"?"`` joining (the outcome is due at a lab time only this model knows: ask it)."""
        status = self._sta_status()
        return b"1" if status == STAT_GOT_IP else b"?" if status == STAT_CONNECTING else b"0"

    @property
    def access_point_present(self) -> bool:
        """Whether the lab network's access point is on the air."""
        return self._ap_present

    def lose_access_point(self) -> None:
        """The lab's access point goes off the air: the station drops, and joins find no AP.

        A station that loses its AP ends with its link down (the cyw43 driver
        clears its join state on disassociation), so ``isconnected()`` is False
        and ``status()`` is ``STAT_IDLE`` until the firmware joins again.
        """
        self._ap_present = False
        self._join = None
        self._status_changed()

    def restore_access_point(self) -> None:
        """The access point is back; stations must join again (nothing rejoins by itself)."""
        self._ap_present = True
        self._status_changed()

    def _sta_status(self) -> int:
        if not self._active[STA_IF] or self._join is None:
            return STAT_IDLE
        if self._clock.now() - self._join.started < self.association_delay:
            return STAT_CONNECTING
        return self._join.outcome

    def active(self, itf: int, value: bool | None = None) -> bool | None:
        """``WLAN.active([value])``."""
        if value is None:
            return self._active[itf]
        self._active[itf] = bool(value)
        if itf == STA_IF and not value:
            self._join = None
        self._status_changed()
        return None

    def connect(self, ssid: str, key: str | None) -> None:
        """``WLAN.connect(ssid, key)``: start associating; the outcome comes later.

        Raises:
            MicroPythonError: ``OSError(EPERM)`` if the station is not active,
                as the cyw43 driver refuses to join then.
        """
        if not self._active[STA_IF]:
            raise MicroPythonError("OSError", EPERM)
        if ssid != self.ssid or not self._ap_present:
            outcome = STAT_NO_AP_FOUND
        elif (key or "") != self.password:
            outcome = STAT_WRONG_PASSWORD
        else:
            outcome = STAT_GOT_IP
        self._join = _Join(ssid, self._clock.now(), outcome)
        self._status_changed()

    def disconnect(self) -> None:
        """``WLAN.disconnect()``."""
        self._join = None
        self._status_changed()

    def status(self, itf: int = STA_IF) -> int:
        """``WLAN.status()``: a ``STAT_*`` value."""
        if itf == AP_IF:
            return STAT_GOT_IP if self._active[AP_IF] else STAT_IDLE
        self._status_changed()
        return self._sta_status()

    def isconnected(self, itf: int = STA_IF) -> bool:
        """``WLAN.isconnected()``."""
        return self.status(itf) == STAT_GOT_IP

    def ifconfig(self, itf: int) -> tuple[str, str, str, str]:
        """``WLAN.ifconfig()``: (ip, netmask, gateway, dns)."""
        if self._static[itf] is not None:
            return self._static[itf]  # type: ignore[return-value]
        if itf == AP_IF:
            return ("192.168.4.1", "255.255.255.0", "192.168.4.1", "0.0.0.0") if self._active[AP_IF] else _NO_IP
        if self._sta_status() != STAT_GOT_IP:
            return _NO_IP
        gateway = ".".join(self.ip.split(".")[:3] + ["1"])
        return (self.ip, "255.255.255.0", gateway, gateway)

    def set_ifconfig(self, itf: int, config: object) -> None:
        """``WLAN.ifconfig((ip, mask, gw, dns))``: a static configuration."""
        if not isinstance(config, (list, tuple)):
            raise MicroPythonError("TypeError", "object not iterable")
        if len(config) != 4:
            raise MicroPythonError.value_error(f"requested length 4 but object has length {len(config)}")
        ip, mask, gateway, dns = (str(x) for x in config)
        self._static[itf] = (ip, mask, gateway, dns)

    def status_param(self, itf: int, param: object) -> object:
        """``WLAN.status('param')``."""
        if param == "stations":
            if itf != AP_IF:
                raise MicroPythonError.value_error("AP required")
            return []
        if param == "rssi" and itf == STA_IF:
            return -55  # the model's fixed signal strength
        raise MicroPythonError.value_error("unknown status param")

    def config(self, itf: int, param: object, settings: object) -> object:
        """``WLAN.config('param')`` (``param``) or ``WLAN.config(k=v, ...)`` (``settings``)."""
        if isinstance(settings, dict) and settings:
            if param is not None:
                raise MicroPythonError("TypeError", "can't specify pos and kw args")
            self.config_set(itf, settings)
            return None
        if not isinstance(param, str):
            raise MicroPythonError("TypeError", "must query one param")
        return self.config_get(itf, param)

    def set_hostname(self, value: object) -> None:
        """``network.hostname(name)``."""
        if not isinstance(value, str):
            raise MicroPythonError("TypeError", "can't convert to str implicitly")
        if len(value) > 32:
            raise MicroPythonError.value_error("hostname too long")
        self.hostname = value

    def config_get(self, itf: int, param: str) -> object:
        """``WLAN.config('param')``.

        Raises:
            MicroPythonError: ``ValueError("unknown config param")``.
        """
        if param == "mac":
            return self.mac if itf == STA_IF else self.mac[:5] + bytes([(self.mac[5] + 1) & 0xFF])
        if param in ("ssid", "essid"):
            if itf == AP_IF:
                return self._ap_ssid
            return self._join.ssid if self._join and self._sta_status() == STAT_GOT_IP else ""
        if param == "hostname":
            return self.hostname
        if param == "channel":
            return 6  # the model's fixed channel
        raise MicroPythonError.value_error("unknown config param")

    def config_set(self, itf: int, params: dict[str, object]) -> None:
        """``WLAN.config(key=value, ...)``."""
        for key, value in params.items():
            if key in ("ssid", "essid") and itf == AP_IF:
                self._ap_ssid = str(value)
            elif key in ("password", "key") and itf == AP_IF:
                self._ap_password = str(value)
            elif key == "hostname":
                self.hostname = str(value)
            elif key in ("channel", "pm", "txpower", "security", "antenna", "trace", "monitor",
                         "ssid", "essid"):
                continue  # accepted, no effect in the model
            else:
                raise MicroPythonError.value_error("unknown config param")
