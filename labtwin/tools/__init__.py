"""Firmware tools above the labs: check (mpy-cross and heap margins), flash (mpremote) and the validation gate."""
