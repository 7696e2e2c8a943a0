"""Faults as objects with start() and clear() that record their windows: network, board, power and sensor faults."""
