# Fragment a MicroPython heap for good (tests of the MQTT client's receive buffer): shared by
# vm_scripts/device.py and the firmware task of tests/e2e/test_firmware_payload_fuzz.py.
import gc

_kept = []


def fragment(gap, size):
    """Leave about half the free heap in holes under 3*gap bytes; (free bytes, can size bytes be allocated)."""
    # First fit fills the heap with gap-byte placeholders in address order; freeing every other one
    # leaves about half the free heap in holes of under 3 gaps, each between two kept placeholders.
    gc.collect()
    held = [None] * (gc.mem_free() // gap + 1)
    n = 0
    try:
        while n < len(held):
            held[n] = bytearray(gap)
            n += 1
    except MemoryError:
        pass
    for i in range(1, n, 2):
        held[i] = None
    _kept.append(held)
    gc.collect()
    try:
        fits = len(bytearray(size)) == size
    except MemoryError:
        fits = False
    return gc.mem_free(), fits
