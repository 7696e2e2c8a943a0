# Helper for the VM test scripts: run a call, print its outcome on one line.
def err(label, fn):
    try:
        fn()
        print(label, "OK")
    except Exception as e:
        print(label, type(e).__name__ + ":", e)
