"""MT-SICS balance model: the line protocol's bytes, stability, zero and tare, timing in lab time."""

from __future__ import annotations

import pytest

from labtwin.twin.models.trace import Trace
from labtwin.twin.parts.balance import Balance
from labtwin.twin.parts.quantity import SharedQuantity


def ask(balance: Balance, command: str, t: float, wait: float = 5.0) -> bytes:
    balance.receive(command.encode("ascii") + b"\r\n", t)
    return balance.transmit(t + wait)


def test_si_answers_the_mt_sics_weight_format():
    balance = Balance(12.345)
    assert ask(balance, "SI", 1.0) == b"S S     12.345 g\r\n"


def test_negative_and_coarser_readability_keep_the_10_character_field():
    assert ask(Balance(-3.2), "SI", 1.0) == b"S S     -3.200 g\r\n"
    assert ask(Balance(1234.5, readability_g=0.1, capacity_g=5000.0), "SI", 1.0) == b"S S     1234.5 g\r\n"


def test_answer_arrives_after_the_response_delay():
    balance = Balance(5.0, response_delay_s=0.08)
    balance.receive(b"SI\r\n", 1.0)
    assert balance.transmit(1.05) == b""
    assert balance.next_answer_at() == pytest.approx(1.08)
    assert balance.transmit(1.08) == b"S S      5.000 g\r\n"


def test_command_split_over_several_writes_waits_for_cr_lf():
    balance = Balance(5.0)
    balance.receive(b"S", 1.0)
    balance.receive(b"I\r", 1.01)
    assert balance.transmit(2.0) == b""
    balance.receive(b"\n", 1.02)
    assert balance.transmit(2.0).startswith(b"S S ")


def test_unstable_load_answers_dynamic_to_si_and_waits_for_s():
    load = lambda t: 10.0 + (0.5 * t if t < 2.0 else 1.0)  # noqa: E731 - rising until 2 s
    balance = Balance(load, response_delay_s=0.05)
    assert ask(balance, "SI", 1.0, wait=0.1) == b"S D     10.500 g\r\n"
    balance.receive(b"S\r\n", 1.0)
    assert balance.transmit(2.0) == b""  # still moving
    answer_at = balance.next_answer_at()
    assert answer_at is not None and 2.5 <= answer_at <= 2.6  # stable once a 0.5 s window is flat
    assert balance.transmit(answer_at) == b"S S     11.000 g\r\n"


def test_s_times_out_with_s_i_when_never_stable():
    balance = Balance(lambda t: t, stability_timeout_s=1.0)
    assert ask(balance, "S", 0.0) == b"S I\r\n"


def test_zero_and_tare():
    load = SharedQuantity("pan", 30.0)
    balance = Balance(load)
    assert ask(balance, "Z", 1.0) == b"Z A\r\n"
    load.add(20.0)  # a beaker
    assert ask(balance, "T", 10.0) == b"T S     20.000 g\r\n"
    load.add(1.5)  # a sample
    assert ask(balance, "SI", 20.0) == b"S S      1.500 g\r\n"
    assert ask(balance, "TA", 21.0) == b"TA A     20.000 g\r\n"
    assert ask(balance, "TAC", 22.0) == b"TAC A\r\n"
    assert ask(balance, "SI", 23.0) == b"S S     21.500 g\r\n"


def test_overload_underload_serial_and_unknown():
    load = SharedQuantity("pan", 250.0)
    balance = Balance(load, capacity_g=220.0, serial_number="B207696838")
    assert ask(balance, "S", 1.0) == b"S +\r\n"
    assert ask(balance, "SI", 2.0) == b"S +\r\n"
    load.set(-20.0, 3.0)  # the pan is off
    assert ask(balance, "SI", 3.0) == b"S -\r\n"
    assert ask(balance, "I4", 4.0) == b'I4 A "B207696838"\r\n'
    assert ask(balance, "XYZ", 5.0) == b"ES\r\n"
    assert ask(balance, "si", 6.0) == b"ES\r\n"  # commands are uppercase


def test_reset_drops_pending_answers_and_clears_the_tare():
    load = SharedQuantity("pan", 10.0)
    balance = Balance(load)
    ask(balance, "T", 1.0)
    balance.receive(b"SI\r\n@\r\n", 5.0)
    assert balance.transmit(6.0) == b'I4 A "B123456789"\r\n'
    assert balance.tare_g == 0.0


def test_commands_are_served_in_order():
    balance = Balance(lambda t: 1.0 if t < 1.2 else 2.0, response_delay_s=0.05)
    balance.receive(b"S\r\nI4\r\n", 1.0)
    answers = balance.transmit(10.0).split(b"\r\n")
    assert answers[0].startswith(b"S S") and answers[1].startswith(b"I4 A")


def test_noise_is_seeded_and_rounded_to_the_readability():
    def readings(seed: int) -> list[bytes]:
        balance = Balance(100.0, noise_g=0.002, seed=seed)
        return [ask(balance, "SI", float(k)) for k in range(5)]

    assert readings(4) == readings(4)
    assert readings(4) != readings(5)
    for line in readings(4):
        assert abs(float(line.split()[2]) - 100.0) < 0.01 and len(line.split()[2].split(b".")[1]) == 3


def test_unplugged_cable_hears_and_sends_nothing():
    trace = Trace()
    balance = Balance(5.0, name="ms", trace=trace)
    balance.connected = False
    assert ask(balance, "SI", 1.0) == b""
    balance.connected = True
    assert ask(balance, "SI", 2.0) == b"S S      5.000 g\r\n"
    assert trace.last("balance.ms.weight") == (2.0, 5.0)


def test_reset_cancels_a_command_waiting_for_stability():
    balance = Balance(lambda t: t, stability_timeout_s=3.0, response_delay_s=0.05)
    balance.receive(b"S\r\n", 1.0)
    balance.receive(b"@\r\n", 1.5)
    assert balance.transmit(1.55) == b'I4 A "B123456789"\r\n'
    assert balance.transmit(10.0) == b""  # the S never answers
