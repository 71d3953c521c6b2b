"""What the vendor-client scripts share: their arguments, named steps, checks and exit.

Each script runs as `python3 SCRIPT.py URL USER PASSWORD CA_FILE` (or with its
environment variables); its directory is on `sys.path`, so `import steps` finds this file.
"""

import os
import sys
import time
import traceback

_STEP = ["start"]
_START = time.monotonic()


def args(script, *envs):
    """The script's positional arguments, each falling back to its environment variable."""
    values = []
    for index, env in enumerate(envs, start=1):
        value = sys.argv[index] if len(sys.argv) > index else os.environ.get(env)
        if not value:
            sys.exit(f"{script}: missing argument {index} (or ${env})")
        values.append(value)
    return values


def step(name):
    """Starts step `name`: printed with the time since the start, named if anything fails."""
    _STEP[0] = name
    print(f"-- {time.monotonic() - _START:6.2f}s {name}", flush=True)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def expect_error(cls, call, *args, describe=str):
    """Calls `call(*args)`, which must raise `cls`; prints `describe(error)` and returns it."""
    try:
        call(*args)
    except cls as e:
        print(f"   refused as expected: {type(e).__name__}: {describe(e)}", flush=True)
        return e
    raise AssertionError(f"expected {cls.__name__}, the call succeeded")


def run(name, main):
    """Runs `main`; the first failure prints its traceback and step, and exits 1."""
    try:
        main()
    except Exception:
        traceback.print_exc()
        print(f"{name}: FAILED at step: {_STEP[0]}", flush=True)
        sys.exit(1)
    print(f"{name}: all steps passed", flush=True)
