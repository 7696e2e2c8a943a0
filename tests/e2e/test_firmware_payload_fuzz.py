"""Fuzz the running firmware with generated command payloads (issue #8).

The real firmware runs in the MicroPython VM on a simulated Pico W (TwinLab); a raw MQTT client
with the orchestrator's credentials publishes generated payloads on the device's command topic
(docs/protocol.md): valid commands, almost-valid ones, garbage bytes, payloads around and far
above ``max_payload`` (4096, docs/device-config.md), deeply nested JSON, wrong types for
``request_id``/``task``/``parameters``, unknown tasks and duplicate request_ids.

Properties:

- the firmware never crashes (the VM is alive, ``board.check()`` passes);
- every payload whose request_id is recoverable gets at least one result with that request_id
  (``success``, ``bad_request``, ``unknown_task``, ``bad_parameters``, ``task_failed`` or
  ``busy``), and no request_id gets more results than it was sent;
- nothing answers a payload whose request_id is not recoverable;
- the device still serves ``get_device_status`` afterwards, and its free heap (after a
  ``gc.collect()``, stock_tasks.get_device_status) is back to the baseline within a tolerance.

A payload's request_id is "recoverable" when the payload is a JSON object of at most
``max_payload`` bytes whose ``request_id`` is a string of 1-64 characters, or (not JSON, or
oversized) when it starts with ``{"request_id": "<id>"`` inside the first 256 bytes
(protocol.md, "Error codes").

Payloads come from a seeded generator (deterministic; the seed is in the test id). Publishing is
pipelined: at most ``WINDOW`` answerable requests are outstanding, a little more than the
device's queue of 8, so ``busy`` is exercised too; results are correlated by request_id.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from testkit import BROKERS, lab_mqtt_client

from labtwin.board_firmware import STOCK_FIRMWARE_DIR
from labtwin.scenarios.experiments.firmware_variant import firmware_with_tasks
from labtwin.scenarios.labs.twin_lab import TwinLab

DEVICE = "pico-w-lab-001"
COMMAND_TOPIC = f"ot2/{DEVICE}/command"
RESULT_TOPIC = f"ot2/{DEVICE}/result"
MAX_PAYLOAD = 4096  # docs/device-config.md
RECOVERY_WINDOW = 256  # docs/protocol.md: oversized/broken payloads give up their id from here
MAX_ID = 64
WINDOW = 12  # outstanding answerable requests (the device queues 8, then answers busy)
ANSWER_TIMEOUT = 10.0  # per request, from its publish
HEAP_TOLERANCE = 2048  # bytes of free heap the device may lose over a whole fuzz run
OOM_DROP = "dropped command without a usable request_id: out of memory parsing the payload"
STATUS_FLUSH = 20  # > dedup_size (16): the result cache holds only status results when measuring
END_ID = "end-of-fuzz"  # the last command's request_id: its answer comes after every earlier one's

VALID_TASKS = {
    "get_device_status": lambda r: {},
    "read_sensor": lambda r: {"sensor_pin": r.choice([26, 27, 28])},
    "control_led": lambda r: {"pin": "LED", "state": r.random() < 0.5},
}
TASK_SCHEMAS = {
    "read_sensor": {"sensor_pin": int},
    "control_led": {"pin": (int, str), "state": bool},
    "move_servo": {"pin": int, "angle": int},
    "get_device_status": {},
}


@dataclass
class Case:
    kind: str
    payload: bytes
    request_id: str | None  # recoverable request_id (an answer is required), or None


@dataclass
class Tally:
    sent: Counter[str] = field(default_factory=Counter)  # request_id -> publishes
    answers: dict[str, list[dict]] = field(default_factory=dict)
    kinds: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)  # first answer per answerable case
    unanswerable: int = 0
    lost_oom: int = 0  # answerable requests dropped by an out-of-memory parse (allowed, counted)
    unexpected: list[dict] = field(default_factory=list)  # answers for ids we never made answerable


# --- the generator ----------------------------------------------------------------------------

class Generator:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.n = 0
        self.used_ids: list[str] = []

    def fresh_id(self) -> str:
        self.n += 1
        r = self.r
        base = f"fz-{self.n}"
        style = r.random()
        if style < 0.7:
            rid = base
        elif style < 0.8:
            rid = base + "-" + "x" * r.randint(0, MAX_ID - len(base) - 1)  # up to exactly 64
        elif style < 0.9:
            rid = base + "-" + "".join(r.choice("éü✓µ日本 -_.:") for _ in range(r.randint(1, 8)))
        else:
            rid = base + "-" + "".join(r.choice("/+#$*{}[],") for _ in range(r.randint(1, 8)))
        self.used_ids.append(rid)
        return rid

    def json_value(self, depth: int = 0) -> object:
        r = self.r
        pick = r.randrange(9 if depth < 3 else 6)
        if pick == 0:
            return None
        if pick == 1:
            return r.random() < 0.5
        if pick == 2:
            return r.choice([0, -1, 1, 26, 2**31, 2**63 + 1, -(2**70), r.randint(-1000, 1000)])
        if pick == 3:
            return r.choice([0.5, -0.0, 1e300, 3.3, r.uniform(-1e6, 1e6)])
        if pick == 4:
            return "".join(r.choice("aZ09 \"\\/\n\té✓") for _ in range(r.randint(0, 12)))
        if pick == 5:
            return r.choice(["LED", "", "26", "true", "null"])
        if pick == 6:
            return [self.json_value(depth + 1) for _ in range(r.randint(0, 4))]
        return {self.key(): self.json_value(depth + 1) for _ in range(r.randint(0, 4))}

    def key(self) -> str:
        return self.r.choice(["pin", "state", "sensor_pin", "angle", "gain", "", "x", "é", "request_id"])

    def dump(self, message: object, *, shuffle: bool = False) -> bytes:
        if shuffle and isinstance(message, dict):
            items = list(message.items())
            self.r.shuffle(items)
            message = dict(items)
        spaced = self.r.random() < 0.3
        return json.dumps(message, ensure_ascii=self.r.random() < 0.5,
                          separators=(", ", ": ") if spaced else (",", ":")).encode()

    def command(self, rid: object, task: object, parameters: object = None, **extra: object) -> dict:
        message: dict = {"request_id": rid, "task": task}
        if parameters is not None or self.r.random() < 0.1:
            message["parameters"] = parameters
        if self.r.random() < 0.3:
            message["timestamp"] = time.time()
        message.update(extra)
        return message

    # each maker returns a Case

    def valid(self) -> Case:
        rid = self.fresh_id()
        task = self.r.choice(list(VALID_TASKS))
        return Case("valid", self.dump(self.command(rid, task, VALID_TASKS[task](self.r)), shuffle=True), rid)

    def unknown_task(self) -> Case:
        rid = self.fresh_id()
        task = self.r.choice(["make_coffee", "READ_SENSOR", "read_sensor ", "é✓", "a" * 300, "__init__",
                              "call", "catalogue", "task", "../read_sensor"])
        return Case("unknown_task", self.dump(self.command(rid, task, {}), shuffle=True), rid)

    def bad_parameters(self) -> Case:
        rid = self.fresh_id()
        r = self.r
        task = r.choice(list(TASK_SCHEMAS))
        schema = TASK_SCHEMAS[task]
        params = {name: self.json_value() for name in schema if r.random() < 0.8}
        if r.random() < 0.5 or not schema:
            params[r.choice(["gain", "x", "", "é"])] = self.json_value()
        return Case("parameters", self.dump(self.command(rid, task, params), shuffle=True), rid)

    def failing(self) -> Case:
        """Well-typed parameters the task itself refuses (no ADC on the pin, angle out of range)."""
        rid = self.fresh_id()
        if self.r.random() < 0.5:
            message = self.command(rid, "read_sensor", {"sensor_pin": self.r.choice([0, 5, 99, -1, 2**40])})
        else:
            message = self.command(rid, "move_servo", {"pin": 15, "angle": self.r.choice([181, 200, -5, 10**6])})
        return Case("failing", self.dump(message, shuffle=True), rid)

    def wrong_request_id(self) -> Case:
        bad = self.r.choice([None, 0, 12, 1.5, True, [], ["fz"], {}, {"id": "x"}, "", "y" * (MAX_ID + 1)])
        message = self.command(bad, "get_device_status")
        if self.r.random() < 0.2:
            del message["request_id"]
        return Case("wrong_request_id", self.dump(message, shuffle=True), None)

    def wrong_task(self) -> Case:
        rid = self.fresh_id()
        message = self.command(rid, self.r.choice([None, 0, 1.0, False, "", [], ["read_sensor"], {}]))
        if self.r.random() < 0.2:
            del message["task"]
        return Case("wrong_task", self.dump(message, shuffle=True), rid)

    def wrong_parameters(self) -> Case:
        rid = self.fresh_id()
        params = self.r.choice([[], [1, 2], "sensor_pin=26", 26, 1.5, True, False])
        return Case("wrong_parameters",
                    self.dump(self.command(rid, "read_sensor", params), shuffle=True), rid)

    def not_an_object(self) -> Case:
        rid = self.fresh_id()
        value = self.r.choice([[{"request_id": rid, "task": "get_device_status"}], rid, 42, None, True,
                               [], self.json_value()])
        if isinstance(value, dict):
            value = [value]
        return Case("not_an_object", self.dump(value), None)

    def almost_valid(self) -> Case:
        """A valid command, broken: truncated, trailing junk, single quotes, missing brace..."""
        rid = self.fresh_id()
        head = f'{{"request_id": "{rid}", '.encode() if self.r.random() < 0.5 else f'{{"request_id":"{rid}",'.encode()
        body = self.dump({"task": "get_device_status", "parameters": {}})[1:]
        good = head + body
        r = self.r
        how = r.randrange(6)
        if how == 0:
            broken = good[:r.randint(len(head) - 1, len(good) - 1)]
        elif how == 1:
            broken = good + r.choice([b",", b"}", b" x", b"\x00", b"]"])
        elif how == 2:
            broken = good.replace(b'"task"', b"'task'")
        elif how == 3:
            broken = good[:-1] + b",}"
        elif how == 4:
            broken = good.replace(b'"parameters"', b"parameters")
        else:
            cut = good.rindex(b"{}")  # the parameters' braces: a request_id may contain "{}" too
            broken = good[:cut] + b"{" + good[cut + 2:]
        return Case("almost_valid", broken, rid)

    def garbage(self) -> Case:
        r = self.r
        junk = r.randbytes(r.randint(0, 600))
        if r.random() < 0.5:
            return Case("garbage", junk, None)
        # A recoverable id, then garbage (invalid UTF-8 too) right behind it.
        rid = self.fresh_id()
        return Case("garbage_after_id", f'{{"request_id": "{rid}", "task": '.encode() + junk, rid)

    def huge(self) -> Case:
        r = self.r
        rid = self.fresh_id()
        target = r.choice([
            r.randint(MAX_PAYLOAD - 64, MAX_PAYLOAD),  # accepted
            r.randint(MAX_PAYLOAD + 1, MAX_PAYLOAD + 64),  # refused
            r.randint(MAX_PAYLOAD, 4 * MAX_PAYLOAD),
            r.choice([65_536, 200_000]),
        ])
        message = {"request_id": rid, "task": "get_device_status", "pad": ""}
        skeleton = len(self.dump_plain(message))
        fill = r.choice("aé✓")
        message["pad"] = fill * max(0, (target - skeleton) // len(fill.encode()))
        payload = self.dump_plain(message)
        if r.random() < 0.25:
            # The request_id behind the recovery window: unrecoverable once oversized.
            message = {"pad": message["pad"], "task": "get_device_status", "request_id": rid}
            payload = self.dump_plain(message)
            if len(payload) > MAX_PAYLOAD:
                return Case("huge_id_late", payload, None)
        kind = "huge_ok" if len(payload) <= MAX_PAYLOAD else "huge_over"
        return Case(kind, payload, rid)

    @staticmethod
    def dump_plain(message: object) -> bytes:
        return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()

    def nested(self) -> Case:
        r = self.r
        rid = self.fresh_id()
        depth = r.choice([r.randint(1, 64), r.randint(64, 1000), r.randint(1000, 2000)])
        opener, closer = r.choice([("[", "]"), ('{"a":', "}")])
        inner = opener * depth + "1" + closer * depth
        payload = f'{{"request_id":"{rid}","task":"get_device_status","parameters":{{"deep":{inner}}}}}'.encode()
        if len(payload) > MAX_PAYLOAD or r.random() < 0.2:
            keep = len(f'{{"request_id":"{rid}"'.encode())  # the id stays recoverable
            payload = payload[:r.randint(keep, min(len(payload), MAX_PAYLOAD))]  # also unbalanced
        if r.random() < 0.2:
            return Case("nested_top", (opener * depth + closer * depth).encode()[:MAX_PAYLOAD], None)
        return Case("nested", payload, rid)

    def duplicate(self) -> Case:
        if not self.used_ids:
            return self.valid()
        rid = self.r.choice(self.used_ids[-40:])
        task = self.r.choice(["get_device_status", "make_coffee"])
        return Case("duplicate", self.dump(self.command(rid, task, {})), rid)

    MAKERS = (
        ("valid", 4), ("unknown_task", 2), ("bad_parameters", 3), ("failing", 1), ("wrong_request_id", 2),
        ("wrong_task", 2), ("wrong_parameters", 2), ("not_an_object", 1), ("almost_valid", 3),
        ("garbage", 2), ("huge", 2), ("nested", 2), ("duplicate", 2),
    )

    def cases(self, count: int) -> list[Case]:
        names = [name for name, _ in self.MAKERS]
        weights = [w for _, w in self.MAKERS]
        return [getattr(self, self.r.choices(names, weights)[0])() for _ in range(count)]


def recoverable(case: Case) -> str | None:
    """The oracle, from the payload alone (docs/protocol.md), cross-checked with the generator."""
    rid = None
    if len(case.payload) <= MAX_PAYLOAD:
        try:
            message = json.loads(case.payload.decode())
        except (UnicodeDecodeError, ValueError, RecursionError):
            message = None
        else:
            if isinstance(message, dict):
                value = message.get("request_id")
                if isinstance(value, str) and 0 < len(value) <= MAX_ID:
                    return value
                return None
            return None
    prefix = b'{"request_id": "' if case.payload.startswith(b'{"request_id": "') else b'{"request_id":"'
    if case.payload.startswith(prefix):
        end = case.payload.find(b'"', len(prefix))
        if 0 < end < RECOVERY_WINDOW:
            candidate = case.payload[len(prefix):end].decode()
            if "\\" not in candidate and 0 < len(candidate) <= MAX_ID:
                rid = candidate
    return rid


# --- running a batch --------------------------------------------------------------------------

async def settled_free_heap(lab: TwinLab) -> int:
    """Free heap with the dedup cache full of status results only (so runs compare like for like)."""
    client = lab.client(DEVICE)
    for _ in range(STATUS_FLUSH):
        status = await client.get_device_status()
    return int(status["free_memory"])


def device_trouble(lab: TwinLab) -> list[str]:
    """The device's log lines about its connection and memory (the fuzzer's findings)."""
    assert lab.work_dir is not None
    lines = (lab.work_dir / DEVICE / f"{DEVICE}.log").read_text(errors="replace").splitlines()
    return [line for line in lines if "mqtt:" in line or "emory" in line or "online as" in line]


async def fuzz(lab: TwinLab, cases: list[Case]) -> Tally:
    tally = Tally()
    outstanding: dict[str, float] = {}  # request_id -> deadline
    answered = asyncio.Event()
    ended: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
    expected_ids: set[str] = set()

    async with lab_mqtt_client(lab, "payload-fuzzer") as mqtt:
        await mqtt.subscribe(RESULT_TOPIC, qos=1)

        async def collect() -> None:
            async for message in mqtt.messages:
                body = json.loads(message.payload)
                rid = body.get("request_id")
                if rid == END_ID:
                    ended.set_result(body)
                elif rid in expected_ids or rid in tally.sent:
                    tally.answers.setdefault(rid, []).append(body)
                    outstanding.pop(rid, None)
                    answered.set()
                elif isinstance(rid, str) and rid.startswith("fz-"):
                    tally.unexpected.append(body)
                # else: the lab's own orchestrator client (fresh uuid ids) shares the topic

        collector = asyncio.create_task(collect())
        try:
            for case in cases:
                tally.kinds[case.kind] += 1
                while len(outstanding) >= WINDOW:
                    answered.clear()
                    now = time.monotonic()
                    for rid in [rid for rid, deadline in outstanding.items() if deadline < now]:
                        del outstanding[rid]  # lost: check_answers decides whether that is allowed
                    try:
                        await asyncio.wait_for(answered.wait(), 0.5)
                    except TimeoutError:
                        pass
                rid = case.request_id
                if rid is None:
                    tally.unanswerable += 1
                else:
                    expected_ids.add(rid)
                    if rid not in tally.answers:
                        outstanding.setdefault(rid, time.monotonic() + ANSWER_TIMEOUT)
                    tally.sent[rid] += 1
                await mqtt.publish(COMMAND_TOPIC, case.payload, qos=1)
            try:
                async with asyncio.timeout(ANSWER_TIMEOUT):
                    while outstanding:
                        answered.clear()
                        await answered.wait()
            except TimeoutError:
                pass  # check_answers names the lost requests
            # Late extra answers (stored re-sends, busy) come before the answer to a later command:
            # the device takes commands in order and publishes on one connection.
            end = json.dumps({"request_id": END_ID, "task": "get_device_status"}).encode()
            await mqtt.publish(COMMAND_TOPIC, end, qos=1)
            status = await asyncio.wait_for(ended, ANSWER_TIMEOUT)
            assert status["device_id"] == DEVICE and status["status"] == "success", status
        finally:
            collector.cancel()
            try:
                await collector
            except asyncio.CancelledError:
                pass
    for rid in expected_ids:
        if rid not in tally.answers:
            continue  # lost: check_answers
        first = tally.answers[rid][0]
        tally.outcomes[first["status"] if first["status"] == "success" else first["error"]["code"]] += 1
    return tally


def check_answers(cases: list[Case], tally: Tally, trouble: list[str]) -> None:
    for case in cases:
        assert recoverable(case) == case.request_id, (case.kind, case.payload[:300])
    assert not tally.unexpected, f"answers to unrecoverable payloads: {tally.unexpected[:5]}"
    lost = [rid for rid in tally.sent if rid not in tally.answers]
    # The one documented loss (protocol.md, "Out of memory"): a large payload the device had no heap
    # block to parse; the device logs it. Its request_id then comes only from the first 256 bytes.
    sizes = {case.request_id: len(case.payload) for case in cases if case.request_id in lost}
    oom_drops = sum(OOM_DROP in line for line in trouble)
    tally.lost_oom = len(lost)
    assert all(size > 1024 for size in sizes.values()) and len(lost) <= oom_drops, (
        f"answerable requests without a result: {sorted(sizes.items())[:20]}; device log: "
        f"{[line for line in trouble if OOM_DROP not in line][-10:]}")
    extra = {rid: (len(tally.answers.get(rid, [])), n) for rid, n in tally.sent.items()
             if len(tally.answers.get(rid, [])) > n}
    assert not extra, f"more results than requests (results, sent): {extra}"
    for answers in tally.answers.values():
        for body in answers:
            assert body["device_id"] == DEVICE
            assert body["status"] in ("success", "error")
            if body["status"] == "error":
                assert body["error"]["code"] in (
                    "bad_request", "unknown_task", "bad_parameters", "task_failed", "busy"), body


async def run_fuzz(lab: TwinLab, seed: int, count: int) -> tuple[Tally, int, int, float]:
    board = lab.board(DEVICE)
    before = await settled_free_heap(lab)
    cases = Generator(seed).cases(count)
    started = time.perf_counter()
    tally = await fuzz(lab, cases)
    elapsed = time.perf_counter() - started
    board.check()
    assert board.running and board.returncode is None
    check_answers(cases, tally, device_trouble(lab))
    after = await settled_free_heap(lab)
    board.check()
    assert before - after <= HEAP_TOLERANCE, f"free heap {before} -> {after}"
    return tally, before, after, elapsed


def report(tally: Tally, before: int, after: int, elapsed: float) -> str:
    return (f"{sum(tally.kinds.values())} payloads in {elapsed:.1f}s; kinds {dict(tally.kinds)}; "
            f"outcomes {dict(tally.outcomes)}; lost to out-of-memory parses {tally.lost_oom}; "
            f"unanswerable {tally.unanswerable}; "
            f"free heap {before} -> {after}")


# --- tests ------------------------------------------------------------------------------------

def test_the_oracle_agrees_with_the_generator():
    cases = Generator(7).cases(3000)
    for case in cases:
        assert recoverable(case) == case.request_id, (case.kind, case.payload[:300])
    assert {c.kind for c in cases} >= {"valid", "huge_over", "huge_ok", "nested", "garbage", "duplicate"}


def test_a_request_id_is_recovered_past_invalid_utf8_in_the_window():
    import command_codec  # firmware module (tests/conftest.py puts firmware/ on sys.path)

    assert command_codec.recover_request_id(b'{"request_id": "fz-1", "task": \xff\xfe') == "fz-1"
    cut = ('{"request_id":"fz-2","pad":"' + "\u00e9" * 200).encode()[:RECOVERY_WINDOW + 1]
    assert command_codec.recover_request_id(cut) == "fz-2"  # a 2-byte character split at byte 256
    assert command_codec.recover_request_id(b'{"request_id": "\xff"}') is None


@pytest.mark.timeout(120)
async def test_fuzzed_payloads_never_crash_and_every_recoverable_request_is_answered(lab: TwinLab, capsys):
    tally, before, after, elapsed = await run_fuzz(lab, seed=20261125, count=500)
    with capsys.disabled():
        print("\n[payload fuzz]", report(tally, before, after, elapsed))
    assert tally.outcomes["success"] > 0 and tally.outcomes["bad_request"] > 0


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_fuzzed_payloads_at_scale(lab: TwinLab, capsys):
    tally, before, after, elapsed = await run_fuzz(lab, seed=8, count=10_000)
    with capsys.disabled():
        print("\n[payload fuzz, slow]", report(tally, before, after, elapsed))


# --- regression: max-size payloads on a fragmented heap ----------------------------------------

HEAP_FRAGMENTER = Path(__file__).resolve().parents[1] / "mqtt" / "vm_scripts" / "heap_fragmenter.py"
FRAGMENT_TASK = '''
# Test-only task (tests/e2e/test_firmware_payload_fuzz.py): fragment the heap for good.
import heap_fragmenter
from task_registry import task


@task(params={"gap": int, "size": int}, doc="test: fragment the heap; can size bytes still be allocated?")
def fragment(gap, size):
    free, fits = heap_fragmenter.fragment(gap, size)
    return {"free": free, "fits": fits}
'''


def fragment_firmware(tmp_path: Path) -> Path:
    modules = {"heap_fragmenter": HEAP_FRAGMENTER.read_text(encoding="utf-8"), "fragment_task": FRAGMENT_TASK}
    return firmware_with_tasks(STOCK_FIRMWARE_DIR, tmp_path / "firmware", modules)


@pytest.fixture(params=BROKERS)
async def fragmented_lab(request: pytest.FixtureRequest, tmp_path: Path):
    async with TwinLab(broker=request.param, firmware_dir=fragment_firmware(tmp_path),
                       work_dir=tmp_path / "lab", timeout=5.0) as lab:
        yield lab


def padded_command(request_id: str) -> bytes:
    """A get_device_status command of exactly MAX_PAYLOAD bytes: whitespace, so parsing it is cheap."""
    head = json.dumps({"request_id": request_id, "task": "get_device_status"})
    return (head[:-1] + " " * (MAX_PAYLOAD - len(head)) + "}").encode()


async def test_max_size_commands_on_a_fragmented_heap_keep_the_connection(fragmented_lab: TwinLab):
    # Regression (issue #8, found by the fuzzing above on Mosquitto): once the Pico W heap had no
    # free block of max_payload bytes left, the client's read of such a payload into a fresh bytes
    # object raised MemoryError, and the connection dropped with every command in flight.
    lab = fragmented_lab
    heap = await lab.client(DEVICE).execute_task("fragment", gap=512, size=MAX_PAYLOAD + 1)
    assert not heap["fits"] and heap["free"] > 10 * MAX_PAYLOAD, heap
    async with lab_mqtt_client(lab, "max-size-commands") as mqtt:
        await mqtt.subscribe(RESULT_TOPIC, qos=1)
        for i in range(40):  # max-size commands interleaved with small ones and the results of both
            ids = {f"big-{i}", f"small-{i}"}
            await mqtt.publish(COMMAND_TOPIC, padded_command(f"big-{i}"), qos=1)
            await mqtt.publish(COMMAND_TOPIC, json.dumps(
                {"request_id": f"small-{i}", "task": "get_device_status"}).encode(), qos=1)
            got = {}
            try:
                async with asyncio.timeout(ANSWER_TIMEOUT):
                    async for message in mqtt.messages:
                        body = json.loads(message.payload)
                        if body.get("request_id") in ids:
                            got[body["request_id"]] = body["status"]
                            if len(got) == len(ids):
                                break
            except TimeoutError:
                pass
            assert got == dict.fromkeys(ids, "success"), (i, got, device_trouble(lab)[-3:])
    lost = [line for line in device_trouble(lab) if "mqtt:" in line and "connected to" not in line]
    assert not lost, lost
