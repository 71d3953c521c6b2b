// The wasmvisor guest SDK for JavaScript.
//
// A plugin module exports `reconcile` and `finalize` built by `reconciler()`:
//
//   import { reconciler, done } from '@wasmvisor/sdk';
//   export const { reconcile, finalize } = reconciler({
//     reconcile(ctx, object) { ctx.log.info('seen', { name: object.metadata.name }); return done(); },
//   });
//
// Objects are plain Kubernetes JSON objects. Host errors arrive as instances
// of the classes below (branch with `instanceof` or on `.kind`); throw one to
// fail a reconcile with that kind. Anything else thrown becomes `internal`.
// A fresh instance serves every call: keep state in the cluster.

import * as kube from 'wasmvisor:plugin/kube@0.1.0';
import * as hostLog from 'wasmvisor:plugin/log@0.1.0';
import * as nsx from 'wasmvisor:plugin/nsx@0.1.0';
import * as vcenter from 'wasmvisor:plugin/vcenter@0.1.0';

// ---------------------------------------------------------------- errors

/** Base class of every error the host can return or a plugin can raise. */
export class WasmvisorError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = this.constructor.name;
  }

  /** The WIT `error` case: `forbidden`, `not-found`, `conflict`, … */
  get kind() {
    return 'internal';
  }

  /** Whether backing off and retrying can fix it. */
  get retryable() {
    return ['conflict', 'unavailable', 'internal'].includes(this.kind);
  }

  /** The WIT variant value (`{ tag, val }`) this error lowers to. */
  get tag() {
    return this.kind;
  }

  get val() {
    return this.message;
  }

  get payload() {
    return { tag: this.kind, val: this.message };
  }
}

/** Outside the plugin's grant; the message names the missing capability. */
export class Forbidden extends WasmvisorError {
  get kind() { return 'forbidden'; }
}
/** The object or path does not exist. */
export class NotFound extends WasmvisorError {
  get kind() { return 'not-found'; }
}
/** Another writer got there first: re-read and try again. */
export class Conflict extends WasmvisorError {
  get kind() { return 'conflict'; }
}
/** The request is wrong and will stay wrong. */
export class Invalid extends WasmvisorError {
  get kind() { return 'invalid'; }
}
/** The backend is unreachable or failing; retry later. */
export class Unavailable extends WasmvisorError {
  get kind() { return 'unavailable'; }
}
/** Anything else. */
export class Internal extends WasmvisorError {
  get kind() { return 'internal'; }
}

const ERRORS = {
  forbidden: Forbidden,
  'not-found': NotFound,
  conflict: Conflict,
  invalid: Invalid,
  unavailable: Unavailable,
  internal: Internal,
};

/** The typed error for a WIT `error` value as a JS binding throws it. */
export function fromWit(thrown) {
  if (thrown instanceof WasmvisorError) return thrown;
  // jco/StarlingMonkey wrap the value in an Error's `payload`; QuickJS
  // throws the `{ tag, val }` value itself.
  const value = thrown && typeof thrown === 'object' && 'payload' in thrown ? thrown.payload : thrown;
  if (value && typeof value === 'object' && value.tag in ERRORS) {
    return new ERRORS[value.tag](String(value.val ?? ''));
  }
  return new Internal(thrown instanceof Error ? thrown.message : String(thrown));
}

function call(f) {
  try {
    return f();
  } catch (e) {
    throw fromWit(e);
  }
}

// --------------------------------------------------------------- outcome

/** Nothing more until the object (or something it owns) changes. */
export function done() {
  return { tag: 'done' };
}

/**
 * Reconcile again after `ms` milliseconds even if nothing changes.
 *
 * The WIT `u64` is a plain number under QuickJS (the backend this SDK
 * builds with); jco's StarlingMonkey backend would want a BigInt.
 */
export function requeueAfter(ms) {
  return { tag: 'requeue-after', val: Math.max(0, Math.round(ms)) };
}

// -------------------------------------------------------------- logging

function fieldList(fields) {
  return Object.entries(fields ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]);
}

/** Levelled, structured logging into the host's log. */
export const log = {
  trace: (message, fields) => hostLog.write('trace', message, fieldList(fields)),
  debug: (message, fields) => hostLog.write('debug', message, fieldList(fields)),
  info: (message, fields) => hostLog.write('info', message, fieldList(fields)),
  warn: (message, fields) => hostLog.write('warn', message, fieldList(fields)),
  error: (message, fields) => hostLog.write('error', message, fieldList(fields)),
};

// ---------------------------------------------------------------- objects

/** The identity (`object-ref`) of `object` in `cluster`. */
export function refOf(cluster, object) {
  const meta = object.metadata ?? {};
  return {
    cluster,
    apiVersion: object.apiVersion,
    kind: object.kind,
    namespace: meta.namespace ?? null,
    name: meta.name,
  };
}

/** An owner reference to `owner` for the objects it owns. */
export function ownerReference(owner, controller = true) {
  const uid = owner.metadata?.uid;
  if (!uid) throw new Invalid(`${owner.kind} ${owner.metadata?.name} has no uid yet`);
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid,
    controller,
    blockOwnerDeletion: true,
  };
}

// ----------------------------------------------------------- conditions

/**
 * Sets condition `type` in `object.status.conditions` the way Kubernetes
 * tools read it: one entry per type, `lastTransitionTime` moving only when
 * the status flips. Returns whether anything changed.
 */
export function setCondition(object, { type, status, reason = '', message = '', observedGeneration }) {
  if (!['True', 'False', 'Unknown'].includes(status)) {
    throw new Invalid(`condition ${type}: status must be True, False or Unknown, not ${status}`);
  }
  object.status ??= {};
  object.status.conditions ??= [];
  const conditions = object.status.conditions;
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const next = { type, status, reason, message, lastTransitionTime: now };
  if (observedGeneration !== undefined) next.observedGeneration = observedGeneration;
  const i = conditions.findIndex((c) => c.type === type);
  if (i < 0) {
    conditions.push(next);
    return true;
  }
  const old = conditions[i];
  if (old.status === status) next.lastTransitionTime = old.lastTransitionTime;
  const changed = JSON.stringify(old) !== JSON.stringify(next);
  conditions[i] = next;
  return changed;
}

/** The condition of `type` in `object.status.conditions`, if present. */
export function getCondition(object, type) {
  return (object.status?.conditions ?? []).find((c) => c.type === type);
}

// ----------------------------------------------------------------- kube

/** The Kubernetes API, checked against the plugin's kube capabilities. */
export class Kube {
  /** @param {string} cluster the default cluster of calls */
  constructor(cluster) {
    this.cluster = cluster;
  }

  #ref(ref) {
    return { cluster: this.cluster, ...ref, namespace: ref.namespace ?? null };
  }

  /** Reads one object (`{ apiVersion, kind, namespace?, name, cluster? }`). */
  get(ref, { fresh = false } = {}) {
    return JSON.parse(call(() => kube.get(this.#ref(ref), fresh ? 'server' : 'cache')));
  }

  /** Reads one object; `undefined` if it does not exist. */
  getOpt(ref, options) {
    try {
      return this.get(ref, options);
    } catch (e) {
      if (e instanceof NotFound) return undefined;
      throw e;
    }
  }

  /** Lists objects of one kind (`{ apiVersion, kind, namespace? }`), optionally by label selector. */
  list(kinds, { labelSelector, fresh = false } = {}) {
    const items = call(() => kube.list(this.#ref(kinds), labelSelector ?? null, fresh ? 'server' : 'cache'));
    return items.map((item) => JSON.parse(item));
  }

  /**
   * Server-side apply of `object` (send only the fields you manage), the
   * plugin being the field manager. Returns the object as stored.
   */
  apply(object, { cluster } = {}) {
    return JSON.parse(call(() => kube.apply(cluster ?? this.cluster, JSON.stringify(object))));
  }

  /** Server-side apply of `object.status` through the status subresource. */
  applyStatus(object, { cluster } = {}) {
    const body = { apiVersion: object.apiVersion, kind: object.kind, metadata: identity(object.metadata), status: object.status };
    return JSON.parse(call(() => kube.applyStatus(cluster ?? this.cluster, JSON.stringify(body))));
  }

  /** Deletes one object; one already gone is not an error. */
  delete(ref) {
    call(() => kube.delete(this.#ref(ref)));
  }
}

function identity(meta = {}) {
  const out = { name: meta.name };
  if (meta.namespace) out.namespace = meta.namespace;
  return out;
}

// ------------------------------------------------------------ endpoints

/** An HTTP-shaped endpoint (NSX or vCenter) the host is configured with. */
export class Endpoint {
  constructor(binding) {
    this.binding = binding;
  }

  /** Sends one request; returns `{ status, body }` with `body` parsed when it is JSON. */
  request(method, path, body) {
    const response = call(() =>
      this.binding.request({
        method: method.toLowerCase(),
        path,
        body: body === undefined ? null : JSON.stringify(body),
      }),
    );
    return { status: response.status, body: response.body ? JSON.parse(response.body) : undefined };
  }
}

// ------------------------------------------------------------- context

/** One call's context: the target, and the clients the host offers. */
export class Context {
  constructor(target) {
    /** The object being reconciled (`object-ref`). */
    this.target = target;
    /** Its cluster. */
    this.cluster = target.cluster;
    this.kube = new Kube(target.cluster);
    this.nsx = new Endpoint(nsx);
    this.vcenter = new Endpoint(vcenter);
    this.log = log;
  }
}

// -------------------------------------------------------------- export

function run(handler, request) {
  let object;
  try {
    object = JSON.parse(request.object);
  } catch (e) {
    throw new Invalid(`the object is not JSON: ${e.message}`).payload;
  }
  try {
    const outcome = handler(new Context(request.target), object);
    return outcome ?? done();
  } catch (e) {
    // The WIT binding lowers the thrown `{ tag, val }` as the error.
    throw fromWit(e).payload;
  }
}

/**
 * Turns `{ reconcile(ctx, object), finalize?(ctx, object) }` into the
 * world's exports. Handlers return `done()` (or nothing) or
 * `requeueAfter(ms)`, and throw a `WasmvisorError` to fail.
 */
export function reconciler(impl) {
  if (typeof impl?.reconcile !== 'function') {
    throw new TypeError('reconciler() needs an object with a reconcile(ctx, object) method');
  }
  const finalize = impl.finalize?.bind(impl) ?? (() => done());
  return {
    reconcile: (request) => run(impl.reconcile.bind(impl), request),
    finalize: (request) => run(finalize, request),
  };
}
