"""The two settings of ``--speed max``: how long the host polls for a board's turn, how late a board may wake.

Both come from the environment, read once per lab loop and checked before the loop exists, so a bad
value is one clear error (docs/time.md):

- ``LABTWIN_LAB_SPIN_US``: while boards take their turns the host polls for their reports for up to
  this many microseconds of real time before it sleeps (default 1000 with two CPUs or more, else 0;
  0: never poll). A sleeping host's CPU halts, and on a virtual machine waking it costs about as much
  as a board's turn.
- ``LABTWIN_LAB_WAKE_SLACK``: how late a board's wait may end, in percent of the wait (default 0.5,
  at most 1; 0: exactly on its deadline), and never more than :data:`WAKE_SLACK_MAX_S`. Boards
  whose deadlines fall within that of each other wake together, one jump and one round of turns for
  all of them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from labtwin.errors import ConfigError

__all__ = ["HAND_OVER_SPIN_S", "SLACK_VARIABLE", "SPIN_VARIABLE", "WAKE_SLACK", "WAKE_SLACK_MAX_S", "MaxTuning",
           "hand_over_spin", "wake_slack"]

HAND_OVER_SPIN_S = 1e-3
"""How long the host polls for a board's report before it sleeps (two CPUs or more)."""

SPIN_VARIABLE = "LABTWIN_LAB_SPIN_US"

WAKE_SLACK = 0.005
"""How late a board's wait may end, as a fraction of the wait (0.5 %: a 1 s sleep ends up to 5 ms late)."""

WAKE_SLACK_MAX_S = 0.005
"""The most any wait may end late, however long (a 1 h sleep ends up to 5 ms late, not 18 s)."""

SLACK_VARIABLE = "LABTWIN_LAB_WAKE_SLACK"

_SLACK_LIMIT_PERCENT = 1.0  # the device's clock must agree with its sleeps within 1 % (issue #16)


def hand_over_spin() -> float:
    """The host's polling bound in real seconds: ``LABTWIN_LAB_SPIN_US``, else the default (0 on one CPU).

    Raises:
        ConfigError: the variable is set to something other than a whole number of microseconds.
    """
    setting = os.getenv(SPIN_VARIABLE, "").strip()
    if setting:
        if not setting.isdigit():
            raise ConfigError(f"{SPIN_VARIABLE}={setting!r}: give a whole number of microseconds (0: never poll)")
        return int(setting) / 1e6
    return HAND_OVER_SPIN_S if len(os.sched_getaffinity(0)) >= 2 else 0.0


def wake_slack() -> float:
    """How late a board's wait may end, as a fraction of the wait: ``LABTWIN_LAB_WAKE_SLACK`` (percent), else 0.5 %.

    Raises:
        ConfigError: the variable is not a number of percent from 0 to 1.
    """
    setting = os.getenv(SLACK_VARIABLE, "").strip().removesuffix("%")
    if not setting:
        return WAKE_SLACK
    try:
        percent = float(setting)
    except ValueError:
        percent = math.nan
    if not 0.0 <= percent <= _SLACK_LIMIT_PERCENT:  # also refuses nan
        raise ConfigError(f"{SLACK_VARIABLE}={os.getenv(SLACK_VARIABLE)!r}: give a percentage of a wait from 0 to "
                          f"{_SLACK_LIMIT_PERCENT:g} (0: every board wakes exactly on its deadline)")
    return percent / 100.0


@dataclass(frozen=True)
class MaxTuning:
    """The settings of one ``--speed max`` lab loop."""

    spin_s: float
    """How long the host polls for a board's report (real seconds; 0: never)."""
    slack: float
    """How late a board's wait may end, as a fraction of the wait (at most :data:`WAKE_SLACK_MAX_S`)."""

    @classmethod
    def from_environment(cls) -> MaxTuning:
        """Both settings from the environment (see the module's docstring).

        Raises:
            ConfigError: either variable is set to a value it cannot take.
        """
        return cls(spin_s=hand_over_spin(), slack=wake_slack())
