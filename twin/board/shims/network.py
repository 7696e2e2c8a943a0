# labtwin shim of MicroPython's `network` module (Pico W / cyw43 flavour).
#
# Runs inside the board's MicroPython VM ahead of any built-in `network`. WLAN
# calls go over the machine shim's hardware-bus socket to the host's WiFi
# model, which plays the access point of the lab network. Sockets themselves
# are the VM's own: the VM talks to the lab's services over loopback.

import os

import machine

_call = machine._call

# The host keeps the station's link state in this file ("1" joined, "0" not, "?" joining: ask), so
# a supervisor's isconnected() poll costs a file read, not a bus round trip (twin/board/link_state.py).
_link = os.getenv("LABTWIN_WIFI_LINK")
_link = open(_link, "rb") if _link else None

if not machine._info.get("wifi"):
    raise ImportError("no module named 'network'")

STA_IF = 0
AP_IF = 1

# cyw43 link states, as the rp2 port exports them.
STAT_IDLE = 0
STAT_CONNECTING = 1
STAT_WRONG_PASSWORD = -3
STAT_NO_AP_FOUND = -2
STAT_CONNECT_FAIL = -1
STAT_GOT_IP = 3

_country = ["XX"]


class WLAN:
    IF_STA = 0
    IF_AP = 1

    def __init__(self, interface=STA_IF):
        self._itf = 0 if interface == 0 else 1

    def active(self, *args):
        if len(args) > 1:
            raise TypeError("function takes at most 2 arguments")
        if not args:
            return _call("wlan_active", self._itf)
        _call("wlan_active", self._itf, bool(args[0]))

    def connect(self, ssid=None, key=None, *, bssid=None, auth=-1, security=-1, channel=-1, essid=None):
        if ssid is None:
            ssid = essid
        if ssid is None:
            raise TypeError("'ssid' argument required")
        if bssid is not None and len(bssid) != 6:
            raise ValueError()
        if isinstance(ssid, (bytes, bytearray)):
            ssid = bytes(ssid).decode()
        if isinstance(key, (bytes, bytearray)):
            key = bytes(key).decode()
        _call("wlan_connect", self._itf, ssid, key)

    def disconnect(self):
        _call("wlan_disconnect", self._itf)

    def isconnected(self):
        if _link is not None and self._itf == 0:
            _link.seek(0)
            state = _link.read(1)
            if state == b"1":
                return True
            if state == b"0":
                return False
        return _call("wlan_isconnected", self._itf)

    def status(self, param=None):
        return _call("wlan_status", self._itf, param)

    def ifconfig(self, config=None):
        if config is None:
            return tuple(_call("wlan_ifconfig", self._itf))
        _call("wlan_ifconfig", self._itf, [c for c in config])

    def config(self, *args, **kw):
        if kw:
            if args:
                raise TypeError("can't specify pos and kw args")
            _call("wlan_config", self._itf, None, kw)
            return
        if len(args) != 1:
            raise TypeError("must query one param")
        value = _call("wlan_config", self._itf, args[0], None)
        if args[0] == "mac":
            return bytes.fromhex(value)
        return value


def hostname(*args):
    if not args:
        return _call("hostname")
    _call("hostname", args[0])


def country(*args):
    if not args:
        return _country[0]
    _country[0] = args[0]
