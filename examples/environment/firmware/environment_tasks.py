# The environmental-monitoring lab's tasks (the seed guide's "OT-2 + environmental monitoring" example).
#
# Wiring (Pico W): a BME280 on I2C0 (SDA GP4, SCL GP5, address 0x76) measures the air in the
# enclosure; a DS18B20 on 1-Wire (GP22) is its probe; an HX711 (DOUT GP16, PD_SCK GP17) weighs the
# vessel on its load cell; a pump on a MOSFET (GP18) fills the vessel; a Peltier cooler on a relay
# (GP19) cools the enclosure. The sensors are opened on first use, so a missing one fails its task
# (a task_failed error naming the OSError), not the boot.
import asyncio

import bme280
import ds18x20
import hx711
import onewire
from machine import I2C, Pin

from task_registry import BadParameters, task

I2C_ID, I2C_SDA, I2C_SCL, I2C_FREQ = 0, 4, 5, 400000
BME280_ADDRESS = 0x76
ONEWIRE_PIN = 22
HX711_DOUT, HX711_SCK = 16, 17
HX711_COUNTS_PER_GRAM = 420.0  # this load cell's calibration, counts per gram at gain 128
PUMP_PIN, PUMP_FLOW_ML_S = 18, 2.0  # the pump's calibrated flow
COOLER_PIN = 19
DS18B20_CONVERSION_MS = 750  # 12-bit resolution (the power-on default)
MAX_DOSE_ML = 50.0

_parts = {}


def _part(name):
    part = _parts.get(name)
    if part is None:
        if name == "air":
            part = bme280.BME280(I2C(I2C_ID, sda=Pin(I2C_SDA), scl=Pin(I2C_SCL), freq=I2C_FREQ), BME280_ADDRESS)
        elif name == "probe":
            part = ds18x20.DS18X20(onewire.OneWire(Pin(ONEWIRE_PIN)))
        elif name == "scale":
            part = hx711.HX711(HX711_DOUT, HX711_SCK)
            part.counts_per_gram = HX711_COUNTS_PER_GRAM
            part.tare()
        else:
            part = Pin(PUMP_PIN if name == "pump" else COOLER_PIN, Pin.OUT, value=0)
        _parts[name] = part
    return part


async def _probe_celsius():
    probe = _part("probe")
    roms = probe.scan()
    if not roms:
        raise OSError(19, "no DS18B20 on GP%d" % ONEWIRE_PIN)  # ENODEV
    probe.convert_temp()
    await asyncio.sleep_ms(DS18B20_CONVERSION_MS)  # MQTT stays alive while the probe converts
    return probe.read_temp(roms[0])


@task(doc="Read the enclosure: BME280 air temperature, humidity and pressure, DS18B20 probe, vessel weight")
async def read_environment():
    temperature, pressure, humidity = _part("air").measure()
    probe = await _probe_celsius()
    return {
        "temperature_c": round(temperature, 2),
        "humidity_pct": round(humidity, 1),
        "pressure_hpa": round(pressure / 100, 2),
        "probe_temperature_c": round(probe, 4),
        "weight_g": round(_part("scale").grams(), 2),
        "cooler": _part("cooler").value() == 1,
    }


@task(params={"on": bool}, doc="Switch the enclosure's Peltier cooler on or off")
def set_cooler(on):
    _part("cooler").value(1 if on else 0)
    return {"cooler": on}


@task(params={"volume_ml": float}, doc="Pump a volume into the vessel (0-50 mL at the pump's calibrated flow)")
async def dispense(volume_ml):
    if not 0 < volume_ml <= MAX_DOSE_ML:
        raise BadParameters("volume_ml must be above 0 and at most %g, got %g" % (MAX_DOSE_ML, volume_ml))
    scale, pump = _part("scale"), _part("pump")
    before = scale.grams()
    pump.value(1)
    try:
        await asyncio.sleep_ms(int(volume_ml / PUMP_FLOW_ML_S * 1000))
    finally:
        pump.value(0)
    after = scale.grams()
    return {"volume_ml": volume_ml, "weight_before_g": round(before, 2), "weight_after_g": round(after, 2)}


@task(doc="Take the vessel's current weight as zero")
def tare_scale():
    _part("scale").tare()
    return {"tared": True}
