import time

import network
from _check import err

SSID = "labnet"
PASSWORD = "s3cret-pass"
w = network.WLAN(network.STA_IF)
print("initial", w.status(), w.active(), w.isconnected())
err("connect_inactive", lambda: w.connect(SSID, PASSWORD))
w.active(True)
print("active", w.active())


def wait():
    t = time.ticks_ms()
    while w.status() == network.STAT_CONNECTING and time.ticks_diff(time.ticks_ms(), t) < 5000:
        time.sleep_ms(10)
    return w.status()


w.connect("nosuch-ap", "whatever")
print("no_ap", wait(), network.STAT_NO_AP_FOUND)
w.connect(SSID, "wrong")
print("bad_pw", wait(), network.STAT_WRONG_PASSWORD)
w.connect(SSID, PASSWORD)
print("connecting", w.status() == network.STAT_CONNECTING)
print("ok", wait(), network.STAT_GOT_IP, w.isconnected())
print("ifconfig", w.ifconfig()[0], w.ifconfig()[1])
mac = w.config("mac")
print("mac", len(mac), "%02x:%02x:%02x" % (mac[0], mac[1], mac[2]))
print("ssid", w.config("ssid"))
err("cfg_unknown", lambda: w.config("nope"))
err("cfg_none", lambda: w.config())
err("cfg_both", lambda: w.config("mac", hostname="x"))
print("hostname", network.hostname())
network.hostname("bench-7")
print("hostname2", network.hostname(), w.config("hostname"))
w.disconnect()
print("after_disconnect", w.status(), w.isconnected(), w.ifconfig()[0])
ap = network.WLAN(network.AP_IF)
print("ap", ap.active(), ap.status())
print("consts", network.STAT_IDLE, network.STAT_CONNECTING, network.STAT_WRONG_PASSWORD,
      network.STAT_NO_AP_FOUND, network.STAT_CONNECT_FAIL, network.STAT_GOT_IP)
print("done")
