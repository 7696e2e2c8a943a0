import machine  # noqa: F401  (importing it opens the hardware bus)

print("connected")
