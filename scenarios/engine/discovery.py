"""A lab's own scenarios, found in the files and folders its lab file lists (``scenarios = [...]``).

A scenario file is plain Python importing labtwin's public scenario API
(:mod:`labtwin.scenarios.api`). What it defines at module level is found:

- an :class:`~labtwin.scenarios.engine.experiment.Experiment` (``@experiment`` makes one), under its name;
- a :class:`~labtwin.scenarios.engine.runner.PropertyScenario`, under its name;
- a :class:`~labtwin.scenarios.engine.state_machine.LabStateMachine` subclass defined in the file, under
  its ``scenario_name`` or its class name in kebab case (``PumpDosing`` -> ``pump-dosing``), with its
  ``budget`` (default ``Budget(examples=5, steps=15)``).

A folder is searched for ``*.py`` files (not starting with ``_``), sorted, not recursively. While a
file is imported its folder is on ``sys.path``, so it can import modules beside it. A file that does
not import, or two scenarios with one name, is a ConfigError naming the file and line.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from labtwin.errors import ConfigError
from labtwin.scenarios.engine.experiment import Experiment
from labtwin.scenarios.engine.runner import Budget, PropertyScenario
from labtwin.scenarios.engine.state_machine import LabStateMachine

__all__ = ["DEFAULT_LAB_BUDGET", "ScenarioSet", "load_scenario_file", "load_scenarios", "split_scenario_reference"]

DEFAULT_LAB_BUDGET = Budget(examples=5, steps=15)
"""The budget of a lab's state machine that names none."""


@dataclass
class ScenarioSet:
    """Scenarios by name, and the file each came from."""

    experiments: dict[str, Experiment] = field(default_factory=dict)
    properties: dict[str, PropertyScenario] = field(default_factory=dict)
    origins: dict[str, Path] = field(default_factory=dict)

    def add(self, scenario: Experiment | PropertyScenario, origin: Path) -> None:
        """Add ``scenario`` from ``origin``.

        Raises:
            ConfigError: the name is taken.
        """
        if scenario.name in self.origins:
            raise ConfigError(f"{origin}: scenario {scenario.name!r} is also defined in {self.origins[scenario.name]}; "
                              "give one of them another name")
        if isinstance(scenario, Experiment):
            self.experiments[scenario.name] = scenario
        else:
            self.properties[scenario.name] = scenario
        self.origins[scenario.name] = origin

    def names(self) -> list[str]:
        """Every scenario name, experiments first."""
        return [*self.experiments, *self.properties]


def _kebab(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).replace("_", "-").lower()


def _import(path: Path) -> ModuleType:
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
    module_name = f"labtwin_lab_scenarios.{re.sub(r'[^A-Za-z0-9_]', '_', path.stem)}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: not a Python file labtwin can import")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[module_name]
        raise ConfigError(f"{path}:{exc.lineno}: SyntaxError: {exc.msg}") from None
    except Exception as exc:
        del sys.modules[module_name]
        frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if Path(frame.filename) == path]
        line = f":{frames[-1].lineno}" if frames else ""
        raise ConfigError(f"{path}{line}: importing the scenario file raised {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(str(path.parent))
    return module


def load_scenario_file(path: Path, into: ScenarioSet | None = None) -> ScenarioSet:
    """The scenarios ``path`` defines (added to ``into`` when given).

    Raises:
        ConfigError: the file is missing or does not import; a name is taken.
    """
    found = ScenarioSet() if into is None else into
    path = path.resolve()
    if not path.is_file():
        raise ConfigError(f"no scenario file {path}")
    module = _import(path)
    for value in list(vars(module).values()):
        if isinstance(value, Experiment | PropertyScenario):
            found.add(value, path)
        elif (isinstance(value, type) and issubclass(value, LabStateMachine) and value is not LabStateMachine
              and value.__module__ == module.__name__ and not value.__name__.startswith("_")):
            name = getattr(value, "scenario_name", None) or _kebab(value.__name__)
            budget = getattr(value, "budget", None) or DEFAULT_LAB_BUDGET
            if not isinstance(budget, Budget):
                raise ConfigError(f"{path}: {value.__name__}.budget must be a Budget(examples=..., steps=...)")
            if name not in found.origins or found.origins[name] != path:
                found.add(PropertyScenario(name, value, budget), path)
    return found


def _files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"no scenario file or folder {path}")
    return files


def load_scenarios(paths: Sequence[Path]) -> ScenarioSet:
    """Every scenario in ``paths`` (files, or folders of ``*.py`` files).

    Raises:
        ConfigError: a path is missing, a file does not import, a name is taken twice.
    """
    found = ScenarioSet()
    for path in _files(paths):
        load_scenario_file(path, found)
    return found


def split_scenario_reference(reference: str) -> tuple[Path, str] | None:
    """``path/to/file.py::NAME`` as (file, name); None for a plain scenario name."""
    if "::" not in reference:
        return None
    file, _, name = reference.rpartition("::")
    if not file.endswith(".py") or not name:
        raise ConfigError(f"{reference!r}: write a scenario in a file as path/to/file.py::NAME")
    return Path(file), name
