"""labtwin's pytest plugin: a lab's own tests, run against its twin or its bench (docs/pytest-plugin.md).

Installed with labtwin (the ``pytest11`` entry point ``labtwin``), so every pytest session sees it;
without an option it changes nothing (it imports labtwin's lab modules only when a test asks for a lab,
or names a capability). A test asks for a lab::

    async def test_led(lab):
        await lab.client("pico-1").execute_task("control_led", pin="LED", state=True)

    @pytest.mark.labtwin_needs("hardware")
    async def test_led_pin(lab, hardware):
        await lab.client("pico-1").execute_task("control_led", pin="LED", state=True)
        assert hardware.board("pico-1").model.led

Which lab: ``--labtwin-lab FILE``, else the ini option ``labtwin_lab`` (relative to the ini file's
folder), else ``$LABTWIN_LAB``, else labtwin's default twin lab (one Pico W ``pico-w-lab-001``, the
stock firmware, the default bench wiring). A lab file runs on its twin or its bench as its ``mode``
says; ``--labtwin-twin``/``--labtwin-bench`` choose otherwise. Every test that asks for ``lab`` gets a
lab of its own, started before the test and stopped after it, whatever its outcome.

Fixtures: ``lab`` (the started Lab), ``ot2`` (its OT-2 task server client), ``hardware`` (the twin's
hardware accessors), ``labtwin_config`` (the parsed lab file or None), ``labtwin_target`` (``"twin"``
or ``"bench"``). Marker: ``labtwin_needs(*capabilities)`` skips a test on a lab without them. Such a
test, and one asking for ``hardware`` on a bench or ``ot2`` on a lab without an OT-2, is skipped before
any of its fixtures is set up: no lab is started or connected for it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

if TYPE_CHECKING:
    from labtwin.orchestrator.http_client import AsyncHTTPOrchestratorClient
    from labtwin.scenarios.labs.lab import Capability, Lab, TwinHardware
    from labtwin.scenarios.labs.lab_file import LabConfig
    from labtwin.scenarios.labs.twin_lab_options import TwinLabOptions

__all__ = ["LAB_ENV", "hardware", "labtwin_config", "labtwin_target", "ot2", "pytest_addoption",
           "pytest_collection_modifyitems", "pytest_configure", "pytest_report_header",
           "pytest_runtest_setup"]

LAB_ENV = "LABTWIN_LAB"
"""The environment variable naming the lab file when neither ``--labtwin-lab`` nor ``labtwin_lab`` does."""
INI_NAME = "labtwin_lab"
MARKER = "labtwin_needs"
DEFAULT_TIMEOUT = 10.0
BENCH_HAS_NO_HARDWARE = "needs the lab's 'hardware' capability; a bench lab has none (run it on the twin)"
INSTALL_HINT = 'the lab fixture is async and needs pytest-asyncio: pip install "labtwin[pytest]"'

Target = Literal["twin", "bench"]


# --------------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``--labtwin-*`` options and the ``labtwin_lab`` ini option."""
    group = parser.getgroup("labtwin", "labtwin: the lab a lab's tests run against (docs/pytest-plugin.md)")
    group.addoption("--labtwin-lab", dest="labtwin_lab", metavar="PATH", default=None,
                    help=f"the lab file (default: the ini option {INI_NAME}, then ${LAB_ENV}, then labtwin's "
                         "default twin lab: one Pico W 'pico-w-lab-001' on the stock firmware)")
    group.addoption("--labtwin-twin", dest="labtwin_twin", action="store_true", default=False,
                    help="run on the lab file's twin, whatever its mode")
    group.addoption("--labtwin-bench", dest="labtwin_bench", action="store_true", default=False,
                    help="run on the bench the lab file describes, whatever its mode (tests marked "
                         f"{MARKER}(...) are skipped: a bench has none of the twin's capabilities)")
    group.addoption("--labtwin-broker", dest="labtwin_broker", choices=("amqtt", "mosquitto"), default=None,
                    help="the broker a twin lab starts (default: the lab file's [broker] twin, else amqtt)")
    group.addoption("--labtwin-seed", dest="labtwin_seed", type=int, default=0, metavar="N",
                    help="seeds a twin lab's simulated sensors (default 0)")
    group.addoption("--labtwin-timeout", dest="labtwin_timeout", type=float, default=DEFAULT_TIMEOUT,
                    metavar="SECONDS", help=f"seconds an orchestrator call waits for its result (default "
                                            f"{DEFAULT_TIMEOUT:g})")
    parser.addini(INI_NAME, type="string", default="",
                  help="the lab file the tests run against, relative to the ini file's folder")


@dataclass(frozen=True)
class LabtwinSettings:
    """What the options, the ini file and the environment chose, checked once per session.

    Attributes:
        config: the parsed lab file, or None for labtwin's default twin lab.
        target: ``twin`` or ``bench``.
        broker: the ``--labtwin-broker`` choice (twin labs only).
        seed: the twin lab's seed.
        timeout: seconds an orchestrator call waits for its result.
        twin_options: the lab file's twin, checked (None without a file or on the bench).
    """

    config: LabConfig | None = None
    target: Target = "twin"
    broker: str | None = None
    seed: int = 0
    timeout: float = DEFAULT_TIMEOUT
    twin_options: TwinLabOptions | None = None

    @property
    def explicit(self) -> bool:
        """Whether anything was chosen (a lab file or an option), so the header says which lab."""
        return (self.config is not None or self.broker is not None or self.seed != 0
                or self.timeout != DEFAULT_TIMEOUT)

    @property
    def description(self) -> str:
        """Which lab the tests run against, for the report header and messages."""
        if self.config is None:
            return "labtwin's default twin lab"
        return f"the {self.target} of {self.config.source}"

    def offers(self) -> frozenset[str]:
        """The capability values the session's lab offers (a bench: none)."""
        if self.target == "bench":
            return frozenset()
        robot_api = self.twin_options is not None and self.twin_options.ot2_robot_api
        return frozenset({"faults", "hardware"} | ({"ot2_robot_api"} if robot_api else set()))


_SETTINGS = pytest.StashKey[LabtwinSettings]()


def _lab_file(config: pytest.Config) -> Path | None:
    """The lab file the session names (option, ini, environment), relative to where pytest runs when it can."""
    here = config.invocation_params.dir
    value: str | None = config.getoption("labtwin_lab")
    if value:
        path = here / value
    elif config.getini(INI_NAME):
        base = config.inipath.parent if config.inipath is not None else config.rootpath
        path = base / str(config.getini(INI_NAME))
    elif os.environ.get(LAB_ENV):
        path = here / os.environ[LAB_ENV]
    else:
        return None
    relative = os.path.relpath(path, Path.cwd())  # what messages name it by: the shorter of the two
    return Path(relative) if len(relative) < len(str(path)) else path


def _read_settings(config: pytest.Config) -> LabtwinSettings:
    """The session's settings; a ConfigError (a bad lab file, bad options) as it reads."""
    from labtwin.errors import ConfigError

    bench, twin = bool(config.getoption("labtwin_bench")), bool(config.getoption("labtwin_twin"))
    broker: str | None = config.getoption("labtwin_broker")
    seed, timeout = int(config.getoption("labtwin_seed")), float(config.getoption("labtwin_timeout"))
    if bench and twin:
        raise ConfigError("--labtwin-bench and --labtwin-twin exclude each other: give one")
    if not timeout > 0:
        raise ConfigError(f"--labtwin-timeout must be more than 0 seconds, got {timeout:g}")
    path = _lab_file(config)
    if path is None:
        if bench:
            raise ConfigError(f"--labtwin-bench runs the bench a lab file describes: give --labtwin-lab LAB.toml "
                              f"(or the ini option {INI_NAME}, or ${LAB_ENV})")
        return LabtwinSettings(broker=broker, seed=seed, timeout=timeout)

    from labtwin.scenarios.labs.lab_file import load_lab_config

    lab_config = load_lab_config(path)
    target: Target = "bench" if bench else "twin" if twin else "bench" if lab_config.mode == "bench" else "twin"
    if target == "bench":
        if broker is not None:
            raise ConfigError("--labtwin-broker chooses a twin lab's broker; a bench's is the lab file's [broker] url")
        lab_config.bench_broker_url()  # a twin-only file on the bench: say so now
        return LabtwinSettings(lab_config, "bench", None, seed, timeout)

    from labtwin.scenarios.labs.lab_file_twin import twin_lab_options

    options = twin_lab_options(lab_config, seed=seed, timeout=timeout)  # wiring mistakes now, by key path
    if broker is not None:
        options = options.replace(broker=broker)
    return LabtwinSettings(lab_config, "twin", broker, seed, timeout, options)


def _settings(config: pytest.Config) -> LabtwinSettings:
    """The session's settings (read once, in pytest_configure, or on first use).

    Raises:
        pytest.UsageError: labtwin's one-line message for a bad lab file or bad options.
    """
    settings = config.stash.get(_SETTINGS, None)
    if settings is None:
        from labtwin.errors import ConfigError

        try:
            settings = _read_settings(config)
        except ConfigError as exc:
            raise pytest.UsageError(f"labtwin: {exc}") from None
        config.stash[_SETTINGS] = settings
    return settings


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker; read and check the lab file (a mistake is a usage error before any test)."""
    config.addinivalue_line(
        "markers", f"{MARKER}(*capabilities): the test needs these lab capabilities (faults, hardware, "
                   "ot2_robot_api); it is skipped on a lab without them, such as a bench (docs/pytest-plugin.md)")
    if not config.getoption("help", False):
        _settings(config)


def pytest_report_header(config: pytest.Config) -> str | None:
    """``labtwin: the twin of lab.toml (seed 0)`` when the session chose a lab."""
    settings = config.stash.get(_SETTINGS, None)
    if settings is None or not settings.explicit:
        return None
    if settings.target == "bench" and settings.config is not None:
        detail = f"broker {settings.config.broker_url}"
    else:
        broker = settings.twin_options.broker if settings.twin_options is not None else settings.broker or "amqtt"
        detail = f"broker {broker}, seed {settings.seed}"
    return f"labtwin: {settings.description} ({detail}, timeout {settings.timeout:g} s)"


# --------------------------------------------------------------------------- the marker


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests the session's lab cannot serve as skipped, so no fixture (and no lab) is set up for them.

    Those are ``labtwin_needs`` tests on a lab without the capability, and tests asking for the plugin's
    ``hardware`` on a bench or its ``ot2`` on a lab without an OT-2 (however the test orders its fixtures).
    """
    for item in items:
        reason = _skip_reason(item, config)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))


def _skip_reason(item: pytest.Item, config: pytest.Config) -> str | None:
    needed, _ = _needed_capabilities(item)
    uses_hardware, uses_ot2 = _uses_plugin_fixture(item, "hardware"), _uses_plugin_fixture(item, "ot2")
    if not (needed or uses_hardware or uses_ot2):
        return None
    settings = _settings(config)
    missing = [capability for capability in needed if capability.value not in settings.offers()]
    if missing:
        return _missing_reason(settings, missing[0])
    if uses_hardware and settings.target == "bench":
        return BENCH_HAS_NO_HARDWARE
    return _no_ot2_reason(settings) if uses_ot2 else None


def _uses_plugin_fixture(item: pytest.Item, name: str) -> bool:
    """Whether ``item`` asks for this plugin's fixture ``name`` (not one a conftest defines in its place)."""
    if name not in getattr(item, "fixturenames", ()):
        return False
    # pytest keeps which definitions a test sees only privately; when they cannot be read the fixture
    # itself still skips (after the fixtures the test asked for first).
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {}).get(name)
    if not definitions:
        return False
    function = getattr(definitions[-1], "func", None)
    return getattr(function, "__module__", None) == __name__


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A ``labtwin_needs`` mark naming no capability, or an unknown one, is the test's error."""
    _, problem = _needed_capabilities(item)
    if problem is not None:
        pytest.fail(problem, pytrace=False)


def _needed_capabilities(item: pytest.Item) -> tuple[list[Capability], str | None]:
    """The capabilities ``item``'s ``labtwin_needs`` marks name, or what is wrong with them."""
    marks = list(item.iter_markers(name=MARKER))
    if not marks:
        return [], None
    from labtwin.scenarios.labs.lab import Capability

    values = {value.value: value for value in Capability}
    needed: list[Capability] = []
    for mark in marks:
        if not mark.args:
            return [], f"{MARKER}() names no capability; the capabilities are: {_capability_names()}"
        for value in mark.args:
            capability = values.get(value) if isinstance(value, str) else None
            if capability is None:
                return [], f"{MARKER}({value!r}): not a lab capability; the capabilities are: {_capability_names()}"
            if capability not in needed:
                needed.append(capability)
    return needed, None


def _capability_names() -> str:
    from labtwin.scenarios.labs.lab import Capability

    return ", ".join(repr(c.value) for c in Capability)


def _missing_reason(settings: LabtwinSettings, capability: Capability) -> str:
    if settings.target == "bench":
        return f"needs the lab's {capability.value!r} capability; a bench lab has none (run it on the twin)"
    return (f"needs the lab's {capability.value!r} capability; this twin lab is built without it "
            "(a lab file's [ot2] robot_api = true starts the OT-2 robot API twin)")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def labtwin_config(pytestconfig: pytest.Config) -> LabConfig | None:
    """The parsed lab file the session runs against, or None for labtwin's default twin lab."""
    return _settings(pytestconfig).config


@pytest.fixture(scope="session")
def labtwin_target(pytestconfig: pytest.Config) -> Target:
    """Where the session's tests run: ``"twin"`` or ``"bench"``."""
    return _settings(pytestconfig).target


def _new_lab(settings: LabtwinSettings, work_dir: Path) -> Lab:
    """The (not yet started) lab of one test: the file's bench or twin, or labtwin's default twin lab."""
    if settings.target == "bench":
        from labtwin.scenarios.labs.bench_lab import BenchLab

        assert settings.config is not None
        return BenchLab(settings.config, timeout=settings.timeout)
    from labtwin.scenarios.labs.twin_lab import TwinLab

    if settings.twin_options is not None:
        return TwinLab(settings.twin_options.replace(work_dir=work_dir))
    return TwinLab(seed=settings.seed, timeout=settings.timeout, work_dir=work_dir,
                   broker=settings.broker or "amqtt")


async def _running_lab(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Lab]:
    """A started lab for one test, stopped after it (passed, failed or errored)."""
    from labtwin.errors import LabtwinError

    settings = _settings(request.config)
    lab = _new_lab(settings, tmp_path / "labtwin")
    failure: str | None = None
    try:
        await lab.__aenter__()
    except LabtwinError as exc:
        # One line, as labtwin's command line says it: the lab could not start or be reached.
        failure = f"labtwin could not start {lab.description}: {type(exc).__name__}: {exc}"
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    try:
        yield lab
    finally:
        await lab.__aexit__(None, None, None)


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised by tests/plugin in a session without pytest-asyncio

    @pytest.fixture(name="lab")
    def _lab_without_pytest_asyncio() -> Lab:
        """Fails: the lab fixture is async, and pytest-asyncio is not installed."""
        pytest.fail(INSTALL_HINT, pytrace=False)

else:
    _lab = pytest_asyncio.fixture(name="lab")(_running_lab)
    """The lab of one test, started (a twin lab) or connected (a bench) before it and stopped after it."""


@pytest.fixture
def hardware(request: pytest.FixtureRequest) -> TwinHardware:
    """The twin lab's hardware (``hardware.board(id).model``, ``ot2_twin()``...); skipped on a bench."""
    settings = _settings(request.config)
    if settings.target == "bench":
        pytest.skip(BENCH_HAS_NO_HARDWARE)
    from labtwin.scenarios.labs.lab import twin_hardware

    lab: Lab = request.getfixturevalue("lab")  # only now: a bench run skips without starting anything
    return twin_hardware(lab)


@pytest.fixture
def ot2(request: pytest.FixtureRequest) -> AsyncHTTPOrchestratorClient:
    """The lab's OT-2 task server client (``lab.ot2_client()``); skipped when the lab has no OT-2."""
    reason = _no_ot2_reason(_settings(request.config))
    if reason is not None:
        pytest.skip(reason)
    lab: Lab = request.getfixturevalue("lab")
    if lab.ot2_url is None:
        pytest.skip(f"needs an OT-2: {lab.description} has none")
    return lab.ot2_client()


def _no_ot2_reason(settings: LabtwinSettings) -> str | None:
    """Why the session's lab has no OT-2 task server, or None when it has one."""
    config = settings.config
    if config is None:
        return (f"needs an OT-2: labtwin's default twin lab has none (give a lab file with an [ot2] table: "
                f"--labtwin-lab, {INI_NAME} or ${LAB_ENV})")
    if settings.target == "bench":
        if config.ot2 is None or config.ot2.task_server_url is None:
            return f"needs an OT-2: {config.source} names no [ot2] task_server_url for the bench"
        return None
    if config.ot2 is None:
        return f"needs an OT-2: {config.source} has no [ot2] table (add one: [ot2] task_app = true)"
    if not config.ot2.task_app:
        return f"needs an OT-2: {config.source}'s [ot2] starts no task app twin (add task_app = true)"
    return None
