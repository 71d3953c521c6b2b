"""label-propagator: copies a Deployment's team labels to what it owns.

For every Deployment labelled ``propagate.wasmvisor.dev/enabled=true``, each
label under ``team.wasmvisor.dev/`` is applied (server-side apply, this plugin
as field manager) to every object of the owned kinds that the Deployment
owns: ReplicaSets, or the kinds listed in the annotation
``propagate.wasmvisor.dev/kinds`` (``apps/v1/ReplicaSet,v1/Pod``). The
condition ``LabelsPropagated`` on the Deployment says how it went; a kind the
operator did not grant is reported there as ``Forbidden`` and fails the call.
Level-based: it looks at the labels and owned objects as they are now.
"""

import wasmvisor

#: Labels under this prefix travel from owner to owned objects.
PREFIX = "team.wasmvisor.dev/"
#: Annotation naming the owned kinds, as ``apiVersion/Kind`` separated by commas.
KINDS = "propagate.wasmvisor.dev/kinds"
DEFAULT_KINDS = "apps/v1/ReplicaSet"


def team_labels(owner: dict) -> dict:
    """The labels of ``owner`` that propagate."""
    labels = owner.get("metadata", {}).get("labels", {})
    return {k: v for k, v in sorted(labels.items()) if k.startswith(PREFIX)}


def owned_kinds(owner: dict) -> list:
    """``(apiVersion, kind)`` pairs to label, from the annotation."""
    spec = owner.get("metadata", {}).get("annotations", {}).get(KINDS, DEFAULT_KINDS)
    kinds = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        api_version, _, kind = item.rpartition("/")
        if not api_version or not kind:
            raise wasmvisor.Invalid(f"{KINDS}: {item!r} is not apiVersion/Kind")
        kinds.append((api_version, kind))
    return kinds


class LabelPropagator(wasmvisor.Reconciler):
    def reconcile(self, ctx, deployment):
        meta = deployment["metadata"]
        labels = team_labels(deployment)
        labelled = 0
        try:
            for api_version, kind in owned_kinds(deployment):
                for obj in ctx.kube.list(api_version, kind, namespace=meta["namespace"]):
                    if not wasmvisor.is_owned_by(obj, deployment):
                        continue
                    ctx.kube.apply({
                        "apiVersion": api_version,
                        "kind": kind,
                        "metadata": {"name": obj["metadata"]["name"], "namespace": meta["namespace"],
                                     "labels": labels},
                    })
                    labelled += 1
        except wasmvisor.Forbidden as denied:
            self.report(ctx, deployment, "False", "Forbidden", str(denied))
            raise
        self.report(ctx, deployment, "True", "Propagated", f"{len(labels)} label(s) on {labelled} object(s)")
        ctx.log.info("labels propagated", deployment=meta["name"], objects=labelled, labels=len(labels))
        return wasmvisor.done()

    @staticmethod
    def report(ctx, deployment, status, reason, message):
        """Sets the condition, writing status only when it changed."""
        generation = deployment["metadata"].get("generation")
        if wasmvisor.set_condition(deployment, "LabelsPropagated", status, reason, message, generation):
            ctx.kube.apply_status(deployment)


WitWorld = wasmvisor.export(LabelPropagator)
