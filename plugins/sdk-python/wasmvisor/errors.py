"""Typed errors, mirroring the WIT ``error`` variant.

Host calls raise these; raise one from ``reconcile``/``finalize`` to fail the
call with that kind. Any other exception fails it as ``internal``.
"""

from componentize_py_types import Err
from wit_world.imports import types


class WasmvisorError(Exception):
    """Why a call or a reconcile failed. Branch on the class, show the message."""

    #: The WIT error case, e.g. ``"forbidden"``.
    kind = "internal"
    _wit = types.Error_Internal

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    @property
    def retryable(self) -> bool:
        """Whether backing off and retrying can fix it."""
        return self.kind in ("conflict", "unavailable", "internal")

    def to_wit(self) -> Err:
        """The ``Err`` the WIT binding lowers to the host."""
        return Err(self._wit(self.message))

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class Forbidden(WasmvisorError):
    """Outside the plugin's grant; the message names the missing capability."""

    kind = "forbidden"
    _wit = types.Error_Forbidden


class NotFound(WasmvisorError):
    """The object or path does not exist."""

    kind = "not-found"
    _wit = types.Error_NotFound


class Conflict(WasmvisorError):
    """Another writer got there first: re-read and try again."""

    kind = "conflict"
    _wit = types.Error_Conflict


class Invalid(WasmvisorError):
    """The request is wrong and will stay wrong."""

    kind = "invalid"
    _wit = types.Error_Invalid


class Unavailable(WasmvisorError):
    """The backend is unreachable or failing; retry later."""

    kind = "unavailable"
    _wit = types.Error_Unavailable


class Internal(WasmvisorError):
    """Anything else."""

    kind = "internal"
    _wit = types.Error_Internal


_FROM_WIT = {cls._wit: cls for cls in (Forbidden, NotFound, Conflict, Invalid, Unavailable, Internal)}


def from_wit(err: Err) -> WasmvisorError:
    """The typed error for the ``Err`` a WIT import raised."""
    value = err.value
    cls = _FROM_WIT.get(type(value), Internal)
    return cls(getattr(value, "value", str(value)))


def call(f, *args):
    """Calls import ``f``, turning its ``Err`` into a typed error."""
    try:
        return f(*args)
    except Err as err:
        raise from_wit(err) from None
