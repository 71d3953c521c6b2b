// trust-bundle: keeps a copy of the trust bundle in every namespace that asks.
//
// For every Namespace labelled `trust.wasmvisor.dev/inject=true`, the
// ConfigMap `trust-bundle` from the source namespace (`wasmvisor-system`, or
// the one named by the annotation `trust.wasmvisor.dev/source-namespace`) is
// applied into the Namespace, owned by it. While the source is missing the
// plugin waits and looks again. On deletion it removes its copy.

import { NotFound, done, ownerReference, reconciler, requeueAfter } from '@wasmvisor/sdk';

/** Name of the source ConfigMap and of each copy. */
export const BUNDLE = 'trust-bundle';
/** Where the source lives unless the namespace says otherwise. */
export const SOURCE_NAMESPACE = 'wasmvisor-system';
/** How long to wait before looking for a missing source again. */
export const RETRY_MS = 30_000;

/** The copy `namespace` should hold, given the `source` ConfigMap. */
export function desired(namespace, source) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: BUNDLE,
      namespace: namespace.metadata.name,
      labels: { 'app.kubernetes.io/managed-by': 'trust-bundle' },
      annotations: { 'trust.wasmvisor.dev/source-version': source.metadata.resourceVersion ?? '' },
      ownerReferences: [ownerReference(namespace)],
    },
    data: source.data ?? {},
  };
}

export const { reconcile, finalize } = reconciler({
  reconcile(ctx, namespace) {
    const from = namespace.metadata.annotations?.['trust.wasmvisor.dev/source-namespace'] ?? SOURCE_NAMESPACE;
    let source;
    try {
      source = ctx.kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: from, name: BUNDLE });
    } catch (e) {
      if (!(e instanceof NotFound)) throw e;
      ctx.log.warn('trust bundle source is missing; waiting', { namespace: from });
      return requeueAfter(RETRY_MS);
    }
    const copy = ctx.kube.apply(desired(namespace, source));
    ctx.log.info('trust bundle copied', {
      namespace: namespace.metadata.name,
      keys: Object.keys(copy.data ?? {}).length,
    });
    return done();
  },

  finalize(ctx, namespace) {
    ctx.kube.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: namespace.metadata.name, name: BUNDLE });
    return done();
  },
});
