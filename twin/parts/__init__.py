"""Part models: the chips and devices a lab wires to a board (sensors, drivers, actuators, instruments).

Each part is a plain class with an injected clock and seed, driven by the board model's buses
(I2C, SPI, UART, 1-Wire) or pins. What a part senses comes from :mod:`~labtwin.twin.parts.quantity`.
"""
