"""Physical models behind a simulated board: GPIO, ADC, PWM/servo, WiFi, traces."""
