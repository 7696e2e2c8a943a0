# Boot entry point of the environmental-monitoring lab: the stock tasks plus this lab's own, served
# over MQTT by labtwin's framework (this directory is laid over the stock firmware: its main.py wins).
import device_main
import environment_tasks  # noqa: F401  (registers read_environment, set_cooler, dispense, tare_scale)
import stock_tasks  # noqa: F401  (registers the stock tasks)

device_main.run()
