# Boot entry point: register the stock tasks, then serve tasks over MQTT forever.
# A lab's firmware keeps this shape: import its own task modules beside (or instead of) stock_tasks.
import stock_tasks  # noqa: F401  (registers the stock tasks)

import device_main

device_main.run()
