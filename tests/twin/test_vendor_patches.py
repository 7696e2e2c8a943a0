"""The patches of amqtt and opentrons internals: each refuses a version it was not written for.

(The aiomqtt optimisation at the end is the exception: on another aiomqtt it is left out, not refused.)

Every patch in labtwin.twin.vendor_patches checks the installed version before it touches
anything. Here each entry point is called with the version lookup faked to another version (and
to "not installed") and must raise UnsupportedVendorVersion naming the package, the version found
and the pinned one; on the pinned versions the patches apply (their behaviour is covered by the
broker tests in tests/mqtt and the robot API tests in tests/ot2_robot_api).
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from labtwin.errors import ConfigError, UnsupportedVendorVersion
from labtwin.twin import vendor_patches
from labtwin.twin.brokers import AmqttBroker
from labtwin.twin.lab_time import run_on_lab_time
from labtwin.twin.lab_time.speed import MAX
from labtwin.twin.ot2.robot_api.command_faults import CommandFailure, arm
from labtwin.twin.ot2.robot_api.robot import RobotSettings, SimulatedOT2

REPO = Path(__file__).resolve().parents[2]


def _nothing() -> None:
    pass


# Package -> every way a patch of it is applied (the guard runs before the arguments are used).
PATCHES: list[tuple[str, str, Callable[[], Any]]] = [
    ("amqtt", "broker class", vendor_patches.amqtt_broker_class),
    ("amqtt", "PUBACK warning filter", vendor_patches.filter_known_amqtt_warnings),
    ("amqtt", "topic ACL plugin", lambda: vendor_patches.AmqttTopicAclPlugin),
    ("opentrons", "delay speed-up", lambda: vendor_patches.install_delay_speedup(10)),
    ("opentrons", "engine commands",
     lambda: vendor_patches.intercept_engine_commands(object(), on_command=_nothing, before_handler_call=_nothing)),
    ("opentrons", "command faults", lambda: arm(object(), CommandFailure(at_command=1))),
    ("opentrons", "door switch", lambda: vendor_patches.switch_door(object(), True)),
    ("opentrons", "robot preflight", lambda: SimulatedOT2(RobotSettings()).preflight()),
]


def fake_versions(monkeypatch: pytest.MonkeyPatch, **versions: str | None) -> None:
    real = vendor_patches.installed_version
    monkeypatch.setattr(vendor_patches, "installed_version",
                        lambda package: versions[package] if package in versions else real(package))


@pytest.mark.parametrize(("package", "patch"), [(p, call) for p, _, call in PATCHES],
                         ids=[f"{p}-{name}" for p, name, _ in PATCHES])
def test_each_patch_refuses_another_version(monkeypatch: pytest.MonkeyPatch, package: str,
                                            patch: Callable[[], Any]) -> None:
    fake_versions(monkeypatch, **{package: "99.1.0"})
    with pytest.raises(UnsupportedVendorVersion) as refused:
        patch()
    pinned = vendor_patches.WRITTEN_FOR[package]
    message = str(refused.value)
    assert f"written for {package} {pinned}" in message
    assert f"{package} 99.1.0 is installed" in message
    assert f"install {package}=={pinned}" in message
    assert (refused.value.package, refused.value.found, refused.value.written_for) == (package, "99.1.0", pinned)


@pytest.mark.parametrize("package", ["amqtt", "opentrons"])
def test_a_missing_package_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    fake_versions(monkeypatch, **{package: None})
    with pytest.raises(UnsupportedVendorVersion, match=f"{package} is not installed"):
        vendor_patches.require(package, "a patch")


async def test_an_amqtt_broker_does_not_start_on_another_amqtt(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_versions(monkeypatch, amqtt="0.11.0")
    broker = AmqttBroker()
    with pytest.raises(UnsupportedVendorVersion, match=r"written for amqtt 0\.12\.1, but amqtt 0\.11\.0"):
        await broker.start()
    assert not broker.running


def test_a_version_mismatch_is_a_config_error() -> None:
    # The CLI and `python -m labtwin.twin.ot2.robot_api` turn a ConfigError into one line.
    assert issubclass(UnsupportedVendorVersion, ConfigError)


def test_the_patches_are_written_for_the_pinned_versions() -> None:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for package, version in vendor_patches.WRITTEN_FOR.items():
        assert f"{package}=={version}" in [d.split("#")[0].strip() for d in dependencies], package
        assert vendor_patches.installed_version(package) == version, f"{package} is not the pinned version"


def test_the_acl_plugin_resolves_through_amqtt_on_the_pinned_version() -> None:
    from amqtt.plugins.topic_checking import TopicAccessControlListPlugin
    from amqtt.utils import import_string

    plugin = import_string(vendor_patches.AMQTT_TOPIC_ACL_PLUGIN)
    assert issubclass(plugin, TopicAccessControlListPlugin)
    assert {"publish_acl", "subscribe_acl", "receive_acl"} <= set(plugin.Config.__dataclass_fields__)


def test_the_delay_speedup_installs_and_restores_on_the_pinned_version() -> None:
    # The submodule, not the function of the same name that its package re-exports.
    worker = importlib.import_module("opentrons.protocol_engine.execution.create_queue_worker")
    run_control = importlib.import_module("opentrons.protocol_engine.execution.run_control")
    vendor_patches.install_delay_speedup(10)
    try:
        assert worker.RunControlHandler is not run_control.RunControlHandler
        assert issubclass(worker.RunControlHandler, run_control.RunControlHandler)
    finally:
        vendor_patches.install_delay_speedup(1)
    assert worker.RunControlHandler is run_control.RunControlHandler


def test_importing_the_twin_imports_neither_amqtt_nor_opentrons() -> None:
    code = ("import sys, labtwin.twin, labtwin.twin.vendor_patches, labtwin.twin.brokers, "
            "labtwin.twin.ot2.robot_api.robot, labtwin.twin.ot2.robot_api.command_faults; "
            "print(sorted(m for m in ('amqtt', 'opentrons') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.strip() == "[]"


# ------------------------------------------------------------------ aiomqtt (an optimisation, not forced)


class _Paho:
    """A paho client whose ``loop_misc`` notes the loop time of each call and fails after ``runs``."""

    def __init__(self, runs: int) -> None:
        self.runs, self.times = runs, []  # type: list[float]

    def loop_misc(self) -> int:
        import paho.mqtt.client as mqtt

        self.times.append(asyncio.get_running_loop().time())
        return mqtt.MQTT_ERR_SUCCESS if len(self.times) < self.runs else mqtt.MQTT_ERR_NO_CONN


def test_aiomqtt_housekeeping_ticks_on_whole_seconds_of_a_lab_clock() -> None:
    import aiomqtt.client

    assert vendor_patches.aiomqtt_housekeeping_on_whole_seconds()
    assert vendor_patches.aiomqtt_housekeeping_on_whole_seconds()  # idempotent
    misc_loop = aiomqtt.client.Client._misc_loop

    async def two_clients() -> list[list[float]]:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0.37 - loop.time() % 1.0 + 1.0)  # start off the second, as a client connecting
        first = SimpleNamespace(_client=_Paho(runs=4))
        await asyncio.sleep(0.21)
        second = SimpleNamespace(_client=_Paho(runs=4))
        await asyncio.gather(misc_loop(first), misc_loop(second))
        return [first._client.times, second._client.times]

    for times in run_on_lab_time(two_clients(), MAX):
        assert len(times) == 4
        later = times[1:]  # the first run is at connection; every later one on a whole lab second
        assert all(abs(t - round(t)) < 0.01 for t in later), times
        assert [round(b - a) for a, b in itertools.pairwise(later)] == [1, 1], times


def test_aiomqtt_housekeeping_is_left_alone_on_another_aiomqtt(monkeypatch: pytest.MonkeyPatch) -> None:
    import aiomqtt.client

    async def their_misc_loop(self: Any) -> None:
        """Stands in for another aiomqtt's own housekeeping."""

    monkeypatch.setattr(aiomqtt.client.Client, "_misc_loop", their_misc_loop)
    fake_versions(monkeypatch, aiomqtt="2.6.0")
    assert not vendor_patches.aiomqtt_housekeeping_on_whole_seconds()
    assert aiomqtt.client.Client._misc_loop is their_misc_loop
