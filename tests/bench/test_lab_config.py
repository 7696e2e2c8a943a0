"""Lab files: a bench described in TOML, secrets only by environment variable name."""

from __future__ import annotations

from pathlib import Path

import pytest

from labtwin.errors import ConfigError
from labtwin.scenarios.labs.lab_file import board_password_env, load_lab_config, parse_lab_config
from labtwin.tools.flash import device_config

BENCH = """
[broker]
url = "mqtt://192.168.1.10:1884"
username_env = "BENCH_USER"
password_env = "BENCH_PASS"

[[boards]]
id = "pico-w-lab-001"
kind = "pico_w"
serial_port = "/dev/ttyACM0"

[[boards]]
id = "esp32-lab-002"
kind = "esp32"
password_env = "ESP32_002_PASS"

[ot2]
task_server_url = "http://ot2.lab:8000"
task_server_token_env = "OT2_TOKEN"
robot_api_url = "http://ot2.lab:31950"

[wifi]
ssid_env = "LAB_SSID"
password_env = "LAB_WIFI_PASS"
"""


def test_a_full_bench_file_parses_and_resolves_secrets_from_the_environment():
    env = {"BENCH_USER": "lab", "BENCH_PASS": "s3cret", "OT2_TOKEN": "tok", "LAB_SSID": "labnet",
           "LAB_WIFI_PASS": "wifipw"}
    config = parse_lab_config(BENCH, source="bench.toml", environ=env)
    assert config.device_ids == ["pico-w-lab-001", "esp32-lab-002"]
    assert config.board("pico-w-lab-001").serial_port == "/dev/ttyACM0"
    assert config.board("esp32-lab-002").kind == "esp32"
    address = config.broker_address()
    assert (address.host, address.port, address.username, address.password) == ("192.168.1.10", 1884, "lab", "s3cret")
    assert config.ot2 is not None and config.ot2.robot_api_url == "http://ot2.lab:31950"
    assert config.ot2_token() == "tok"
    assert config.wifi_credentials() == ("labnet", "wifipw")
    assert "s3cret" not in repr(config)


def test_missing_environment_secrets_are_clear_errors():
    config = parse_lab_config(BENCH, source="bench.toml", environ={})
    assert config.broker_address().username is None
    with pytest.raises(ConfigError, match=r"\$OT2_TOKEN, which is not set"):
        config.ot2_token()
    with pytest.raises(ConfigError, match=r"\$LAB_SSID"):
        config.wifi_credentials()
    with pytest.raises(ConfigError, match="no board 'nope'"):
        config.board("nope")


@pytest.mark.parametrize("text, fragment", [
    ('[broker]\nurl = "mqtt://h:1883"\npassword = "hunter2"\n[[boards]]\nid = "a"\n',
     "secrets do not belong in a lab file"),
    ('[broker]\nurl = "mqtt://h:1883"\n[[boards]]\nid = "a"\n[ot2]\ntoken = "x"\nrobot_api_url = "http://h:1"\n',
     "secrets do not belong"),
    ('[broker]\nurl = "mqtt://user:pw@h:1883"\n[[boards]]\nid = "a"\n', "not in the URL"),
    ('[broker]\nurl = "http://h:1883"\n[[boards]]\nid = "a"\n', "must start with mqtt://"),
    ('[broker]\nurl = "mqtt://h:1883"\n', "at least one [[boards]]"),
    ('mode = "bench"\n[[boards]]\nid = "a"\n', 'mode = "bench" needs [broker] url'),
    ('[broker]\nurl = "mqtt://h:1883"\n[[boards]]\nid = "a"\nkind = "arduino"\n', "is not one of pico_w, esp32"),
    ('[broker]\nurl = "mqtt://h:1883"\n[[boards]]\nid = "a"\n[[boards]]\nid = "a"\n', "more than once"),
    ('[broker]\nurl = "mqtt://h:1883"\n[[boards]]\nid = "a b"\n', "letters, digits"),
    ('[broker]\nurl = "mqtt://h:1883"\nusername_env = "not a name"\n[[boards]]\nid = "a"\n', "environment variable"),
    ('[broker]\nurl = "mqtt://h:1883"\n[[boards]]\nid = "a"\ncolour = "red"\n', "unknown key 'boards[0].colour'"),
    ('[broker]\nurl = "mqtt://h:1883"\n[[boards]]\nid = "a"\n[ot2]\nrobot_api_url = "ot2:31950"\n', "http://HOST:PORT"),
    ('[broker]\nurl = "mqtt://h:1883"\n[[boards]]\nid = "a"\n[ot2]\ntask_app = false\n', "[ot2] needs"),
    ('topic_prefix = "lab/#"\n[broker]\nurl = "mqtt://h:1883"\n[[boards]]\nid = "a"\n', "topic_prefix"),
    ("[broker\n", "not valid TOML"),
    ('[[boards]]\nid = "a"\n[[boards.parts]]\ntype = "bme281"\n',
     "boards[0].parts[0].type 'bme281' is not a part type; the part types are: bme280, sht4x"),
    ('[[boards]]\nid = "a"\n[[boards.parts]]\ntype = "bme280"\ni2c = { sda = 4, scl = 5 }\ncolour = 1\n',
     "unknown key 'boards[0].parts[0].colour'; allowed here: address, humidity_pct, i2c, name, noise, pressure_hpa"),
    ('[[boards]]\nid = "a"\n[[boards.parts]]\ntype = "bme280"\ni2c = { sda = 4, scl = 5, sdx = 3 }\n',
     "unknown key 'boards[0].parts[0].i2c.sdx'; allowed here: bus, scl, sda"),
    ('[[boards]]\nid = "a"\n[[boards.parts]]\ntype = "bme280"\ni2c = { sda = 4, scl = 5 }\naddress = 0x55\n',
     "boards[0].parts[0].address 0x55 is not one of 0x76, 0x77"),
    ('[[boards]]\nid = "a"\n[[boards.parts]]\ntype = "ds18b20"\npin = 3\ntemperature_c = "os.getcwd()"\n',
     "boards[0].parts[0].temperature_c: formula 'os.getcwd()': 'os.getcwd()' is not allowed"),
    ('[[boards]]\nid = "a"\n[[boards.parts]]\ntype = "ds18b20"\n', "missing boards[0].parts[0].pin"),
    ('[[quantities]]\nname = "q"\ntype = "thermal"\n[[quantities]]\nname = "q"\ntype = "vessel"\n'
     '[[boards]]\nid = "a"\n', "quantity name(s) ['q'] appear more than once"),
    ('[[boards]]\nid = "a"\nsettings = { x = [1] }\n', "boards[0].settings.x: a device setting is a string"),
    ('[[boards]]\nid = "a"\nkind = "esp32"\nmpy = "yes"\n', "boards[0].mpy"),
])
def test_invalid_lab_files_name_the_problem(text: str, fragment: str):
    with pytest.raises(ConfigError) as error:
        parse_lab_config(text, source="bench.toml", environ={})
    assert fragment in str(error.value)


def test_a_file_is_a_twin_lab_unless_it_names_a_bench_broker_or_says_bench(tmp_path: Path):
    twin = parse_lab_config('[[boards]]\nid = "a"\n', source="lab.toml", environ={}, base_dir=tmp_path)
    assert (twin.mode, twin.broker_url, twin.twin_broker) == ("twin", None, "amqtt")
    with pytest.raises(ConfigError, match=r'lab.toml: a bench needs \[broker\] url = "mqtt://HOST:PORT"'):
        twin.broker_address()
    bench = parse_lab_config(BENCH, source="bench.toml", environ={})
    assert bench.mode == "bench"
    forced = parse_lab_config('mode = "twin"\n' + BENCH, source="bench.toml", environ={})
    assert forced.mode == "twin" and forced.broker_url == "mqtt://192.168.1.10:1884"


def test_relative_paths_start_at_the_lab_files_folder(tmp_path: Path):
    (tmp_path / "lab.toml").write_text('scenarios = ["scenarios"]\n[[boards]]\nid = "a"\nfirmware = "fw"\n'
                                       'firmware_overlay = "extra"\nwiring = "d.json"\n[[boards]]\nid = "b"\n'
                                       'kind = "esp32"\n')
    config = load_lab_config(tmp_path / "lab.toml")
    a, b = config.boards
    assert (a.firmware_dir, a.firmware_overlay, a.wiring) == (tmp_path / "fw", tmp_path / "extra", tmp_path / "d.json")
    assert config.scenarios == (tmp_path / "scenarios",)
    assert (a.mpy, b.mpy) == (True, True)  # boards boot and are flashed in the mpy form unless told otherwise
    assert b.firmware_dir is None  # the stock firmware


def test_unreadable_lab_files_are_clear_errors(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read lab file"):
        load_lab_config(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_lab_config(binary)


def test_a_device_cannot_take_the_orchestrators_broker_user():
    from labtwin.scenarios.labs.twin_lab import TwinLab

    with pytest.raises(ConfigError, match="orchestrator's broker user"):
        TwinLab(devices=["orchestrator"])


def test_a_board_with_its_own_password_is_flashed_with_its_own_broker_user():
    env = {"BENCH_USER": "orchestrator", "BENCH_PASS": "orch-pw", "ESP32_002_PASS": "board-pw",
           "LAB_SSID": "labnet", "LAB_WIFI_PASS": "wifipw"}
    config = parse_lab_config(BENCH, source="bench.toml", environ=env)
    assert config.board_credentials("esp32-lab-002") == ("esp32-lab-002", "board-pw")
    own = device_config(config, "esp32-lab-002", "esp32")
    assert (own["mqtt_user"], own["mqtt_password"]) == ("esp32-lab-002", "board-pw")
    # A board without one gets the lab's broker credentials (a bench without per-board users).
    shared = device_config(config, "pico-w-lab-001", "pico_w")
    assert (shared["mqtt_user"], shared["mqtt_password"]) == ("orchestrator", "orch-pw")


def test_an_unset_board_password_is_a_clear_error():
    config = parse_lab_config(BENCH, source="bench.toml", environ={})
    with pytest.raises(ConfigError, match=r"board 'esp32-lab-002' password_env names \$ESP32_002_PASS"):
        device_config(config, "esp32-lab-002", "esp32")


def test_board_password_variables_are_named_after_the_device_id():
    assert board_password_env("pico-w-lab-001") == "LABTWIN_PICO_W_LAB_001_PASSWORD"
    assert board_password_env("esp32.bench_2") == "LABTWIN_ESP32_BENCH_2_PASSWORD"
