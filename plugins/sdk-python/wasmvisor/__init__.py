"""Write wasmvisor reconciler plugins in Python.

A plugin is one subclass of :class:`Reconciler` and one line that exports it
as the world ``componentize-py`` looks for::

    import wasmvisor

    class Hello(wasmvisor.Reconciler):
        def reconcile(self, ctx, obj):
            ctx.log.info("reconciling", name=obj["metadata"]["name"])
            return wasmvisor.done()

    WitWorld = wasmvisor.export(Hello)

Objects are plain dicts of Kubernetes JSON. Host calls raise the typed errors
of :mod:`wasmvisor.errors`; raise one to fail a reconcile with that kind. A
fresh instance serves every call: keep state in the cluster, not in globals.
"""

import json
from typing import Any, Optional

from componentize_py_types import Err
from wit_world.imports import kube as _kube
from wit_world.imports import log as _log
from wit_world.imports import nsx as _nsx
from wit_world.imports import types
from wit_world.imports import vcenter as _vcenter

from .conditions import get_condition, set_condition
from .errors import (
    Conflict,
    Forbidden,
    Internal,
    Invalid,
    NotFound,
    Unavailable,
    WasmvisorError,
    call,
)

__all__ = [
    "Conflict",
    "Context",
    "Forbidden",
    "Internal",
    "Invalid",
    "Kube",
    "NotFound",
    "Reconciler",
    "Unavailable",
    "WasmvisorError",
    "done",
    "export",
    "get_condition",
    "is_owned_by",
    "owner_reference",
    "requeue_after",
    "set_condition",
]


def done() -> types.Outcome:
    """Nothing more until the object (or something it owns) changes."""
    return types.Outcome_Done()


def requeue_after(seconds: float) -> types.Outcome:
    """Reconcile again after ``seconds`` even if nothing changes."""
    return types.Outcome_RequeueAfter(max(0, round(seconds * 1000)))


class Log:
    """Levelled, structured logging into the host's log: ``log.info("msg", key=value)``."""

    @staticmethod
    def _write(level: _log.Level, message: str, fields: dict) -> None:
        pairs = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in fields.items()]
        _log.write(level, message, pairs)

    def trace(self, message: str, **fields: Any) -> None:
        self._write(_log.Level.TRACE, message, fields)

    def debug(self, message: str, **fields: Any) -> None:
        self._write(_log.Level.DEBUG, message, fields)

    def info(self, message: str, **fields: Any) -> None:
        self._write(_log.Level.INFO, message, fields)

    def warn(self, message: str, **fields: Any) -> None:
        self._write(_log.Level.WARN, message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self._write(_log.Level.ERROR, message, fields)


log = Log()


def _source(fresh: bool) -> _kube.ReadSource:
    return _kube.ReadSource.SERVER if fresh else _kube.ReadSource.CACHE


def owner_reference(owner: dict, controller: bool = True) -> dict:
    """An owner reference to ``owner`` for the objects it owns."""
    meta = owner.get("metadata", {})
    if not meta.get("uid"):
        raise Invalid(f"{owner.get('kind')} {meta.get('name')} has no uid yet")
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def is_owned_by(obj: dict, owner: dict) -> bool:
    """Whether ``obj`` lists ``owner`` (by uid) among its owner references."""
    uid = owner.get("metadata", {}).get("uid")
    refs = obj.get("metadata", {}).get("ownerReferences", [])
    return uid is not None and any(r.get("uid") == uid for r in refs)


class Kube:
    """The Kubernetes API, checked against the plugin's kube capabilities.

    Objects are addressed by ``api_version``, ``kind``, ``name`` and, for
    namespaced kinds, ``namespace``, in the context's cluster unless
    ``cluster`` is given.
    """

    def __init__(self, cluster: str):
        self.cluster = cluster

    def get(self, api_version: str, kind: str, name: str, namespace: Optional[str] = None,
            cluster: Optional[str] = None, fresh: bool = False) -> dict:
        """Reads one object; raises :class:`NotFound` if it does not exist."""
        target = types.ObjectRef(cluster or self.cluster, api_version, kind, namespace, name)
        return json.loads(call(_kube.get, target, _source(fresh)))

    def get_opt(self, api_version: str, kind: str, name: str, namespace: Optional[str] = None,
                cluster: Optional[str] = None, fresh: bool = False) -> Optional[dict]:
        """Reads one object; ``None`` if it does not exist."""
        try:
            return self.get(api_version, kind, name, namespace, cluster, fresh)
        except NotFound:
            return None

    def list(self, api_version: str, kind: str, namespace: Optional[str] = None,
             label_selector: Optional[str] = None, cluster: Optional[str] = None,
             fresh: bool = False) -> list:
        """Lists objects of one kind (all namespaces unless ``namespace``)."""
        kinds = types.KindRef(cluster or self.cluster, api_version, kind, namespace)
        return [json.loads(item) for item in call(_kube.list, kinds, label_selector, _source(fresh))]

    def apply(self, obj: dict, cluster: Optional[str] = None) -> dict:
        """Server-side apply of ``obj`` (send only the fields you manage), the
        plugin being the field manager. Returns the object as stored."""
        return json.loads(call(_kube.apply, cluster or self.cluster, json.dumps(obj)))

    def apply_status(self, obj: dict, cluster: Optional[str] = None) -> dict:
        """Server-side apply of ``obj["status"]`` through the status subresource."""
        meta = obj.get("metadata", {})
        identity = {k: meta[k] for k in ("name", "namespace") if meta.get(k)}
        body = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": identity,
                "status": obj.get("status", {})}
        return json.loads(call(_kube.apply_status, cluster or self.cluster, json.dumps(body)))

    def delete(self, api_version: str, kind: str, name: str, namespace: Optional[str] = None,
               cluster: Optional[str] = None) -> None:
        """Deletes one object; one already gone is not an error."""
        call(_kube.delete, types.ObjectRef(cluster or self.cluster, api_version, kind, namespace, name))


_METHODS = {m.name: m for m in types.Method}


class Endpoint:
    """An HTTP-shaped endpoint (NSX or vCenter) the host is configured with."""

    def __init__(self, binding):
        self._binding = binding

    def request(self, method: str, path: str, body: Any = None) -> tuple:
        """Sends one request; returns ``(status, parsed JSON body or None)``."""
        m = _METHODS.get(method.upper())
        if m is None:
            raise Invalid(f"HTTP method {method!r} is not one of {', '.join(_METHODS)}")
        payload = None if body is None else json.dumps(body)
        response = call(self._binding.request, types.HttpRequest(m, path, payload))
        return response.status, (json.loads(response.body) if response.body else None)


class Context:
    """One call's context: the target, and the clients the host offers."""

    def __init__(self, target: types.ObjectRef):
        #: The object being reconciled.
        self.target = target
        #: Its cluster.
        self.cluster = target.cluster
        self.kube = Kube(target.cluster)
        self.nsx = Endpoint(_nsx)
        self.vcenter = Endpoint(_vcenter)
        self.log = log


class Reconciler:
    """Subclass and override :meth:`reconcile` (and :meth:`finalize` if the
    plugin makes things that need cleaning up)."""

    def reconcile(self, ctx: Context, obj: dict) -> types.Outcome:
        """Drives the world toward ``obj``'s spec. Must be idempotent: look at
        the current state, never at what changed."""
        raise NotImplementedError

    def finalize(self, ctx: Context, obj: dict) -> types.Outcome:
        """Cleans up before ``obj`` goes; the host removes its finalizer once
        this returns :func:`done`."""
        return done()


def _run(handler, req: types.Request) -> types.Outcome:
    try:
        obj = json.loads(req.object)
    except ValueError as e:
        raise Invalid(f"the object is not JSON: {e}").to_wit() from None
    try:
        outcome = handler(Context(req.target), obj)
    except WasmvisorError as e:
        raise e.to_wit() from None
    except Err:
        raise
    except Exception as e:  # a bug in the plugin: report it, don't trap
        raise Internal(f"{type(e).__name__}: {e}").to_wit() from None
    return done() if outcome is None else outcome


def export(reconciler_class: type) -> type:
    """The ``WitWorld`` class componentize-py exports, driving ``reconciler_class``."""
    instance_holder: list = []

    def instance():
        if not instance_holder:
            instance_holder.append(reconciler_class())
        return instance_holder[0]

    class WitWorld:
        def reconcile(self, req: types.Request) -> types.Outcome:
            return _run(instance().reconcile, req)

        def finalize(self, req: types.Request) -> types.Outcome:
            return _run(instance().finalize, req)

    return WitWorld
