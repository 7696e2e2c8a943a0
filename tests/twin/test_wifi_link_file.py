"""The WiFi link file: the VM answers isconnected() from it, the host's WiFi model keeps it current."""

from __future__ import annotations

from pathlib import Path

from testkit import ManualClock

from labtwin.twin.board.link_state import LinkStateFile
from labtwin.twin.models.wifi import WifiModel


def _wifi(clock: ManualClock) -> WifiModel:
    return WifiModel(clock, ssid="lab", password="pw", mac=bytes(6), ip="192.168.1.20", association_delay=0.5)


def test_the_file_follows_a_join_a_lost_access_point_and_a_rejoin(tmp_path: Path) -> None:
    clock = ManualClock()
    wifi = _wifi(clock)
    link = LinkStateFile(tmp_path / "wifi-link", wifi)
    link.open()
    assert link.path.read_bytes() == b"0"

    wifi.active(0, True)
    wifi.connect("lab", "pw")
    assert link.path.read_bytes() == b"?"  # joining: the outcome is the model's to say
    clock.advance(0.5)
    assert wifi.isconnected()  # the VM asks while the file says "?": the model sees the join done
    assert link.path.read_bytes() == b"1"

    wifi.lose_access_point()
    assert link.path.read_bytes() == b"0"
    wifi.restore_access_point()
    wifi.connect("lab", "pw")
    clock.advance(0.5)
    wifi.status()
    assert link.path.read_bytes() == b"1"

    link.close()
    wifi.reset()  # no longer followed: the file keeps what it last said
    assert link.path.read_bytes() == b"1"


def test_a_wrong_password_never_reads_as_joined(tmp_path: Path) -> None:
    clock = ManualClock()
    wifi = _wifi(clock)
    link = LinkStateFile(tmp_path / "wifi-link", wifi)
    link.open()
    wifi.active(0, True)
    wifi.connect("lab", "wrong")
    clock.advance(1.0)
    assert not wifi.isconnected()
    assert link.path.read_bytes() == b"0"
    link.close()
