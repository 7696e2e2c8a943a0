# Task registry for MicroPython devices (also importable from CPython for tests).
#
# MicroPython keeps no annotations or docstrings at run time, so a task declares its
# parameter schema and its one-line doc explicitly:
#
#     @task(params={"pin": (int, str), "state": bool}, doc="Switch an LED")
#     def control_led(pin, state): ...
#
# `@task`, `@task()` and `@task("name")` all register (the seed's bare form registered nothing).

_TYPE_NAMES = {int: "int", float: "float", bool: "bool", str: "str", list: "list", dict: "dict"}

# Filled in by the device service at boot; tasks read it (e.g. get_device_status).
device_info = {}

_tasks = {}


class BadParameters(Exception):
    """Parameters do not match the task's schema. Tasks may raise it for range checks too."""


class UnknownTask(Exception):
    """No task of that name is registered."""


class TaskSpec:
    """One registered task: its function, name, doc, and parameter schema."""

    def __init__(self, func, name, params, optional, doc):
        self.func = func
        self.name = name
        self.params = params
        self.optional = optional
        self.doc = doc

    def describe(self):
        """The catalogue entry published in the device status."""
        described = {}
        for pname, types in self.params.items():
            names = [_TYPE_NAMES.get(t, getattr(t, "__name__", "any")) for t in types]
            described[pname] = names[0] if len(names) == 1 else names
        entry = {"doc": self.doc, "params": described}
        if self.optional:
            entry["optional"] = list(self.optional)
        return entry


def _as_type_tuple(pname, spec):
    types = spec if isinstance(spec, tuple) else (spec,)
    for t in types:
        if t not in _TYPE_NAMES:
            raise TypeError("parameter %r: unsupported type %r" % (pname, t))
    return types


def _first_doc_line(func):
    text = getattr(func, "__doc__", None) or ""
    return text.strip().split("\n")[0]


def task(func=None, name=None, params=None, optional=(), doc=None):
    """Register a function as a task; usable as @task, @task(), @task("name") or @task(name=..., params=...)."""
    if isinstance(func, str):
        name, func = func, None
    schema = {}
    for pname, spec in (params or {}).items():
        schema[pname] = _as_type_tuple(pname, spec)
    for pname in optional:
        if pname not in schema:
            raise TypeError("optional parameter %r is not in params" % pname)

    def register(f):
        task_name = name or f.__name__
        _tasks[task_name] = TaskSpec(f, task_name, schema, tuple(optional), doc or _first_doc_line(f))
        return f

    if func is not None:
        return register(func)
    return register


def _matches(value, types):
    for t in types:
        if t is bool:
            if value is True or value is False:
                return True
        elif t is int:
            # bool is an int subclass; a JSON true is not a pin number.
            if isinstance(value, int) and not isinstance(value, bool):
                return True
        elif t is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return True
        elif isinstance(value, t):
            return True
    return False


def _type_label(value):
    if value is None:
        return "null"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def validate(spec, parameters):
    """Check parameters against the schema; return the kwargs to call with. Raises BadParameters."""
    if not isinstance(parameters, dict):
        raise BadParameters("parameters must be an object")
    unexpected = sorted(pname for pname in parameters if pname not in spec.params)
    if unexpected:
        takes = ", ".join(sorted(spec.params)) or "none: declare them with @task(params={...})"
        raise BadParameters("unexpected parameter %s for task %r (its parameters: %s)"
                            % (", ".join(repr(p) for p in unexpected), spec.name, takes))
    for pname, types in spec.params.items():
        if pname not in parameters:
            if pname in spec.optional:
                continue
            raise BadParameters("missing parameter %r for task %r" % (pname, spec.name))
        value = parameters[pname]
        if not _matches(value, types):
            wanted = " or ".join(_TYPE_NAMES[t] for t in types)
            raise BadParameters("parameter %r must be %s, got %s" % (pname, wanted, _type_label(value)))
    return parameters


def get(name):
    """The TaskSpec registered under name. Raises UnknownTask."""
    spec = _tasks.get(name)
    if spec is None:
        raise UnknownTask("unknown task %r" % name)
    return spec


def names():
    """Registered task names, sorted."""
    return sorted(_tasks)


def catalogue():
    """{name: {"doc", "params"}} for every task, as published in the status message."""
    return {n: _tasks[n].describe() for n in names()}


async def call(name, parameters):
    """Validate and run a task; await it when it is async. Returns the task's result."""
    spec = get(name)
    kwargs = validate(spec, parameters)
    result = spec.func(**kwargs)
    # An `async def` task returns a coroutine (a generator on MicroPython).
    if hasattr(result, "send"):
        result = await result
    return result
