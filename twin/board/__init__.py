"""A simulated board: the MicroPython VM process, its serial console, the board model and profiles, the hardware bus and the VM-side shims."""
