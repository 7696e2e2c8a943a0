# The four stock tasks of the seed framework, fixed for a Pico W.
#
# Wrong pins raise exactly what MicroPython raises on the board (e.g. ADC on a non-ADC
# pin is a ValueError from machine.ADC); the device service turns that into a
# `task_failed` error result.
import asyncio
import gc
import time

from machine import ADC, PWM, Pin

import task_registry
from task_registry import BadParameters, task

ADC_REFERENCE_VOLTS = 3.3

# Servo timing (hobby servos such as the SG90/MG90S): a 50 Hz frame, 0.5 ms pulse = 0 degrees,
# 2.5 ms = 180 degrees. That is the full range most 180-degree servos accept; the seed's
# 1-3 ms mapping overdrove the top end.
SERVO_FREQ_HZ = 50
SERVO_PERIOD_US = 20000
SERVO_MIN_PULSE_US = 500
SERVO_MAX_PULSE_US = 2500
SERVO_SETTLE_MS = 500

# PWM slices are kept running so the servo holds its position under load.
_servos = {}

# ticks_ms() counts from an arbitrary origin on some ports (host uptime on unix): measure from import.
_BOOT_TICKS = time.ticks_ms()


@task(params={"sensor_pin": int}, doc="Read an analog sensor: raw 16-bit value and volts (3.3 V reference)")
def read_sensor(sensor_pin):
    raw = ADC(sensor_pin).read_u16()
    return {
        "sensor_pin": sensor_pin,
        "raw_value": raw,
        "voltage": round(raw * ADC_REFERENCE_VOLTS / 65535, 4),
        "timestamp": time.time(),
    }


@task(params={"pin": (int, str), "state": bool}, doc='Switch an LED on or off (pin: GPIO number or "LED")')
def control_led(pin, state):
    Pin(pin, Pin.OUT).value(1 if state else 0)
    return "LED on pin %s %s" % (pin, "ON" if state else "OFF")


def servo_duty_u16(angle):
    """duty_u16 for a servo angle in degrees (0-180) at 50 Hz."""
    pulse_us = SERVO_MIN_PULSE_US + (SERVO_MAX_PULSE_US - SERVO_MIN_PULSE_US) * angle // 180
    return pulse_us * 65535 // SERVO_PERIOD_US


@task(params={"pin": int, "angle": int}, doc="Move a servo to an angle (0-180 degrees; 50 Hz, 0.5-2.5 ms pulse)")
async def move_servo(pin, angle):
    if angle < 0 or angle > 180:
        raise BadParameters("angle must be between 0 and 180 degrees, got %d" % angle)
    pwm = _servos.get(pin)
    if pwm is None:
        pwm = PWM(Pin(pin))
        pwm.freq(SERVO_FREQ_HZ)
        _servos[pin] = pwm
    pwm.duty_u16(servo_duty_u16(angle))
    # Give the horn time to get there; asyncio keeps MQTT alive meanwhile.
    await asyncio.sleep_ms(SERVO_SETTLE_MS)
    return "Servo on pin %d moved to %d degrees" % (pin, angle)


@task(doc="Device status: free memory, firmware, uptime, tasks")
def get_device_status():
    gc.collect()
    info = task_registry.device_info
    return {
        "device_id": info.get("device_id"),
        "board": info.get("board"),
        "firmware": info.get("firmware"),
        "platform": "micropython",
        "free_memory": gc.mem_free(),
        "allocated_memory": gc.mem_alloc(),
        "tasks_available": task_registry.names(),
        "uptime_ms": time.ticks_diff(time.ticks_ms(), _BOOT_TICKS),
    }
