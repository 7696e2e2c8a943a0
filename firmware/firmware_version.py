# The firmware's version string, published in the device status and checked after flashing.
VERSION = "0.1.0"
