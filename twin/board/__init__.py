"""A simulated board: the VM process, its serial console, the board model and profiles, the hardware bus, the shims."""
