//! `wasmvisor:plugin/kube`: the Kubernetes API, checked per call against the
//! plugin's kube capabilities (verb, cluster, kind, namespace).

use serde_json::{Value, json};
use tracing::Instrument as _;
use tracing::field::{Empty, display};
use wasmtime::component::HasData;
use wasmvisor_manifest::{KubeCall, KubeVerb, ResourceScope};

use crate::capability::error::{HostCallError, convert};
use crate::capability::kube::ownership::{self, Peers};
use crate::capability::kube::{KubeBackend, KubeError, ReadSource};
use crate::object::{KindScope, ObjectRef};
use crate::recorder::tape::{Begun, Raw};
use crate::runtime::bindings::wasmvisor::plugin::{kube, types};
use crate::runtime::scope::CallScope;
use wasmvisor_selector::LabelSelector;

/// The kube functions' view of the store.
pub struct KubeHost<'a> {
    pub(crate) scope: &'a mut CallScope,
    pub(crate) backend: &'a dyn KubeBackend,
}

/// [`HasData`] marker selecting [`KubeHost`].
pub struct KubeView;

impl HasData for KubeView {
    type Data<'a> = KubeHost<'a>;
}

/// The span of one kube host call, `host.kube.<op>`, a child of the
/// attempt's `reconcile` span; `target` and `allowed` are recorded as the
/// call learns them.
macro_rules! call_span {
    ($op:literal, $verb:expr) => {
        tracing::info_span!(concat!("host.kube.", $op), verb = %$verb, target = Empty, allowed = Empty)
    };
}

impl KubeHost<'_> {
    /// Budget, the kind's scope as discovery reports it, then the
    /// capability check; a denial is logged and counted here. The check
    /// judges the scope the client will address, never the namespace the
    /// plugin passed: a cluster-scoped kind is judged (and addressed)
    /// without one.
    /// The scope is also what the flight recorder keeps with the call
    /// (`begun`), so `wasmvisor audit` judges it as this check did.
    async fn admit(
        &mut self,
        call: Call<'_>,
        begun: &mut Option<Begun>,
    ) -> Result<ResourceScope, HostCallError> {
        self.scope.charge()?;
        let discovery =
            || json!({"cluster": call.cluster, "apiVersion": call.api_version, "kind": call.kind});
        let scope = match self.scope.stand_in("kube", "scope", discovery) {
            Some(answer) => answered_scope(answer?)?,
            None => match self.backend.scope(call.cluster, call.api_version, call.kind).await {
                Ok(scope) => scope,
                Err(error) => return self.finish(Err(error)),
            },
        };
        if let Some(begun) = begun {
            begun.learned("scope", recorded_scope(scope));
        }
        let origin = self.scope.origin.clone();
        let call = call.judged(scope, origin.as_deref());
        let allowed = self.scope.manifest.capabilities.allow_kube(&call).is_some();
        tracing::Span::current().record("allowed", allowed);
        if allowed {
            return Ok(scope);
        }
        Err(self.deny(&call, "outside the plugin's kube capabilities", call.to_string()))
    }

    /// The stand-in's answer to this call (replay, shadow), if it has one.
    fn answered(&self, function: &str, begun: &Option<Begun>) -> Option<Result<Value, HostCallError>> {
        self.scope.stand_in("kube", function, || begun.as_ref().map_or(Value::Null, Begun::args))
    }

    fn finish<T>(&self, result: Result<T, KubeError>) -> Result<T, HostCallError> {
        let result = result.map_err(types::Error::from);
        self.scope.record_result("kube", &result);
        result.map_err(HostCallError::Failed)
    }

    /// Parses apply input and checks its size; returns the object and its identity.
    fn parse_object(&self, cluster: &str, object: &str) -> Result<(Value, ObjectRef), HostCallError> {
        self.scope.check_request_size("kube apply", object.len())?;
        let invalid = |m: String| HostCallError::Failed(types::Error::Invalid(m));
        let value: Value =
            serde_json::from_str(object).map_err(|e| invalid(format!("object is not JSON: {e}")))?;
        let target = ObjectRef::of(cluster, &value).map_err(|e| invalid(e.to_string()))?;
        Ok((value, target))
    }

    async fn apply_as(
        &mut self,
        verb: KubeVerb,
        cluster: String,
        object: String,
    ) -> Result<String, HostCallError> {
        let mut begun = self.scope.begin(|| {
            vec![
                ("cluster", Raw::Value(Value::String(cluster.clone()))),
                ("object", Raw::Json(object.clone())),
            ]
        });
        let result = self.apply_unrecorded(verb, cluster, object, &mut begun).await;
        let function = if verb == KubeVerb::ApplyStatus { "apply-status" } else { "apply" };
        self.scope.end("kube", function, begun, &result);
        result
    }

    async fn apply_unrecorded(
        &mut self,
        verb: KubeVerb,
        cluster: String,
        object: String,
        begun: &mut Option<Begun>,
    ) -> Result<String, HostCallError> {
        let (mut value, target) = self.parse_object(&cluster, &object)?;
        tracing::Span::current().record("target", display(&target));
        let scope = self.admit(Call::on(verb, &target), begun).await?;
        let target = addressed(target, scope);
        if target.namespace.is_none()
            && let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut)
        {
            metadata.remove("namespace");
        }
        let status = verb == KubeVerb::ApplyStatus;
        if let Some(answer) = self.answered(if status { "apply-status" } else { "apply" }, begun) {
            return Ok(answer?.to_string());
        }
        let origin = self.scope.origin.clone();
        let call = Call::on(verb, &target).judged(scope, origin.as_deref());
        let foreign = self.scope.manifest.capabilities.allow_kube_foreign(&call);
        if !status && !foreign {
            self.guard_finalizers(&target, &value, &call).await?;
        }
        let manager = self.scope.manifest.name.clone();
        // Under a `foreign` rule the apply takes what it names at once.
        let result = match self.backend.apply(&target, &value, &manager, status, foreign).await {
            Err(KubeError::Conflict(message)) if !foreign => match self.peers().in_conflict(&message) {
                Some(theirs) if theirs.is_empty() => {
                    self.backend.apply(&target, &value, &manager, status, true).await
                }
                Some(theirs) => {
                    let what = format!("fields another plugin manages ({}): {message}", listed(&theirs));
                    return Err(self.refuse(&call, &what));
                }
                None => Err(KubeError::Conflict(message)),
            },
            other => other,
        };
        Ok(self.finish(result)?.to_string())
    }

    /// The loaded plugins, as this plugin's calls see them.
    fn peers(&self) -> Peers<'_> {
        Peers { registry: &self.scope.peers, me: &self.scope.manifest.name }
    }

    /// Refuses an apply that would add a finalizer to an object another
    /// plugin manages (holding up its deletion). One server read, only for
    /// an apply that lists finalizers, which plugins rarely do: the host
    /// keeps their own.
    async fn guard_finalizers(
        &self,
        target: &ObjectRef,
        value: &Value,
        call: &KubeCall<'_>,
    ) -> Result<(), HostCallError> {
        if ownership::finalizers(value).is_empty() {
            return Ok(());
        }
        let current = match self.backend.get(target, ReadSource::Server).await {
            Ok(current) => current,
            Err(KubeError::NotFound(_)) => return Ok(()),
            Err(error) => return self.finish(Err(error)),
        };
        let added = ownership::added_finalizers(value, &current);
        let theirs = self.peers().managing(&current);
        if added.is_empty() || theirs.is_empty() {
            return Ok(());
        }
        let what = format!(
            "finalizer {} on an object another plugin manages ({})",
            added.join(", "),
            listed(&theirs)
        );
        Err(self.refuse(call, &what))
    }

    /// A write refused for reaching into another plugin's object, named to
    /// the plugin with what would allow it.
    fn refuse(&self, call: &KubeCall<'_>, what: &str) -> HostCallError {
        let told = format!(
            "{call}: {what}; a plugin reaches into objects other plugins manage only under a kube rule with `foreign = true`"
        );
        self.deny(call, what, told)
    }

    /// Every kube denial: counted, logged with `why`, and `told` to the plugin.
    fn deny(&self, call: &KubeCall<'_>, why: &str, told: String) -> HostCallError {
        self.scope.record("kube", "denied");
        tracing::warn!(
            plugin = %self.scope.manifest.id(),
            object = %self.scope.object,
            denied = %call,
            "host call denied: {why}"
        );
        HostCallError::Denied(told)
    }
}

/// Plugin names, quoted, for a message.
fn listed(names: &std::collections::BTreeSet<String>) -> String {
    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}

/// What a host function asks, before discovery has said the kind's scope.
#[derive(Clone, Copy)]
struct Call<'a> {
    verb: KubeVerb,
    cluster: &'a str,
    api_version: &'a str,
    kind: &'a str,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
}

impl<'a> Call<'a> {
    fn on(verb: KubeVerb, target: &'a ObjectRef) -> Self {
        Call {
            verb,
            cluster: &target.cluster,
            api_version: &target.api_version,
            kind: &target.kind,
            namespace: target.namespace.as_deref(),
            name: Some(&target.name),
        }
    }

    /// The call as the grant judges it: in the scope discovery gave, for a
    /// reconcile of an object from `origin`'s cluster.
    fn judged(self, scope: ResourceScope, origin: Option<&'a str>) -> KubeCall<'a> {
        KubeCall {
            verb: self.verb,
            cluster: self.cluster,
            api_version: self.api_version,
            kind: self.kind,
            scope,
            namespace: self.namespace,
            name: self.name,
            origin,
        }
    }
}

/// `target` as the client addresses it: a cluster-scoped object has no
/// namespace, whatever the plugin passed.
fn addressed(mut target: ObjectRef, scope: ResourceScope) -> ObjectRef {
    if scope == ResourceScope::Cluster {
        target.namespace = None;
    }
    target
}

/// An object reference as the flight recorder keeps it.
fn recorded_ref(target: &ObjectRef) -> Raw {
    Raw::Value(json!({
        "cluster": target.cluster,
        "apiVersion": target.api_version,
        "kind": target.kind,
        "namespace": target.namespace,
        "name": target.name,
    }))
}

/// A stand-in's answer to discovery: the scope as [`recorded_scope`] keeps it.
fn answered_scope(answer: Value) -> Result<ResourceScope, HostCallError> {
    match answer.as_str() {
        Some("Namespaced") => Ok(ResourceScope::Namespaced),
        Some("Cluster") => Ok(ResourceScope::Cluster),
        _ => Err(HostCallError::Failed(types::Error::Internal(format!("not a resource scope: {answer}")))),
    }
}

/// A stand-in's answer to a list: the objects, as the list returns them.
fn answered_list(answer: Value) -> Result<Vec<String>, HostCallError> {
    match answer {
        Value::Array(items) => Ok(items.iter().map(Value::to_string).collect()),
        other => {
            Err(HostCallError::Failed(types::Error::Internal(format!("not a list of objects: {other}"))))
        }
    }
}

/// A kind's scope as the flight recorder keeps it (`wasmvisor audit` reads it back).
fn recorded_scope(scope: ResourceScope) -> Raw {
    let scope = match scope {
        ResourceScope::Namespaced => "Namespaced",
        ResourceScope::Cluster => "Cluster",
    };
    Raw::Value(Value::String(scope.to_owned()))
}

fn recorded_source(from: kube::ReadSource) -> Raw {
    let from = match from {
        kube::ReadSource::Cache => "cache",
        kube::ReadSource::Server => "server",
    };
    Raw::Value(Value::String(from.to_owned()))
}

fn source(s: kube::ReadSource) -> ReadSource {
    match s {
        kube::ReadSource::Cache => ReadSource::Cache,
        kube::ReadSource::Server => ReadSource::Server,
    }
}

/// A backend failure as the WIT error the plugin sees.
impl From<KubeError> for types::Error {
    fn from(e: KubeError) -> Self {
        match e {
            KubeError::NotFound(m) => types::Error::NotFound(m),
            KubeError::Conflict(m) => types::Error::Conflict(m),
            KubeError::Invalid(m) => types::Error::Invalid(m),
            KubeError::Refused(m) => types::Error::Forbidden(format!("the API server refused the host: {m}")),
            KubeError::Unavailable(m) => types::Error::Unavailable(m),
            KubeError::Internal(m) => types::Error::Internal(m),
        }
    }
}

impl types::Host for KubeHost<'_> {
    fn convert_error(&mut self, err: HostCallError) -> wasmtime::Result<types::Error> {
        convert(err)
    }
}

impl kube::Host for KubeHost<'_> {
    async fn get(
        &mut self,
        target: types::ObjectRef,
        from: kube::ReadSource,
    ) -> Result<String, HostCallError> {
        let target = ObjectRef::from(target);
        let mut begun =
            self.scope.begin(|| vec![("target", recorded_ref(&target)), ("from", recorded_source(from))]);
        let span = call_span!("get", KubeVerb::Get);
        span.record("target", display(&target));
        let result = async {
            let scope = self.admit(Call::on(KubeVerb::Get, &target), &mut begun).await?;
            if let Some(answer) = self.answered("get", &begun) {
                return Ok(answer?.to_string());
            }
            let result = self.backend.get(&addressed(target, scope), source(from)).await;
            Ok(self.finish(result)?.to_string())
        }
        .instrument(span)
        .await;
        self.scope.end("kube", "get", begun, &result);
        result
    }

    async fn list(
        &mut self,
        kinds: types::KindRef,
        label_selector: Option<String>,
        from: kube::ReadSource,
    ) -> Result<Vec<String>, HostCallError> {
        let mut kinds = KindScope {
            cluster: kinds.cluster,
            api_version: kinds.api_version,
            kind: kinds.kind,
            namespace: kinds.namespace,
        };
        let mut begun = self.scope.begin(|| {
            vec![
                (
                    "kinds",
                    Raw::Value(json!({
                        "cluster": kinds.cluster,
                        "apiVersion": kinds.api_version,
                        "kind": kinds.kind,
                        "namespace": kinds.namespace,
                    })),
                ),
                ("labelSelector", Raw::Value(json!(label_selector))),
                ("from", recorded_source(from)),
            ]
        });
        let span = call_span!("list", KubeVerb::List);
        let namespace = kinds
            .namespace
            .as_deref()
            .map_or_else(|| "all namespaces".to_owned(), |ns| format!("namespace {ns:?}"));
        span.record(
            "target",
            format!("{}/{} in cluster {:?}, {namespace}", kinds.api_version, kinds.kind, kinds.cluster),
        );
        let result = async {
            let call = Call {
                verb: KubeVerb::List,
                cluster: &kinds.cluster,
                api_version: &kinds.api_version,
                kind: &kinds.kind,
                namespace: kinds.namespace.as_deref(),
                name: None,
            };
            if self.admit(call, &mut begun).await? == ResourceScope::Cluster {
                kinds.namespace = None;
            }
            let selector = label_selector
                .as_deref()
                .map(LabelSelector::parse)
                .transpose()
                .map_err(|e| HostCallError::Failed(types::Error::Invalid(e.to_string())))?;
            if let Some(answer) = self.answered("list", &begun) {
                return answered_list(answer?);
            }
            let result = self.backend.list(&kinds, selector.as_ref(), source(from)).await;
            Ok(self.finish(result)?.iter().map(Value::to_string).collect())
        }
        .instrument(span)
        .await;
        self.scope.end("kube", "list", begun, &result);
        result
    }

    async fn apply(&mut self, cluster: String, object: String) -> Result<String, HostCallError> {
        let span = call_span!("apply", KubeVerb::Apply);
        self.apply_as(KubeVerb::Apply, cluster, object).instrument(span).await
    }

    async fn apply_status(&mut self, cluster: String, object: String) -> Result<String, HostCallError> {
        let span = call_span!("apply_status", KubeVerb::ApplyStatus);
        self.apply_as(KubeVerb::ApplyStatus, cluster, object).instrument(span).await
    }

    async fn delete(&mut self, target: types::ObjectRef) -> Result<(), HostCallError> {
        let target = ObjectRef::from(target);
        let mut begun = self.scope.begin(|| vec![("target", recorded_ref(&target))]);
        let span = call_span!("delete", KubeVerb::Delete);
        span.record("target", display(&target));
        let result = async {
            let scope = self.admit(Call::on(KubeVerb::Delete, &target), &mut begun).await?;
            if let Some(answer) = self.answered("delete", &begun) {
                return answer.map(drop);
            }
            let result = self.backend.delete(&addressed(target, scope)).await;
            self.finish(result)
        }
        .instrument(span)
        .await;
        self.scope.end("kube", "delete", begun, &result);
        result
    }
}
