//! `wasmvisor replay`: a candidate version of a plugin run offline on
//! recorded reconciles, to see what it would do before it does it.
//!
//! Each record's object is the input; the record is the candidate's whole
//! outside world ([`script`]): reads are answered as recorded, WASI clocks
//! give back the recorded readings, and writes are answered but never sent.
//! The candidate's own call is taped like a live one and judged against
//! the record ([`verdict`]). The candidate is loaded against a grant
//! exactly as a live load would be, so one that asks for more is refused
//! before it runs.

pub mod script;
pub mod verdict;

use std::sync::Arc;

use async_trait::async_trait;
use cap_std::fs::Dir;
use serde_json::Value;
use wasmvisor_manifest::ResourceScope;
use wasmvisor_selector::LabelSelector;

use crate::capability::grant::Grants;
use crate::capability::kube::{KubeBackend, KubeError, ReadSource};
use crate::object::{KindScope, ObjectRef};
use crate::recorder::record::Record;
use crate::runtime::dispatch::{Export, Request};
use crate::runtime::engine::EngineSettings;
use crate::runtime::instance::Backends;
use crate::runtime::plugin::{LoadError, Plugin};
use crate::runtime::scope::OutputLimits;
use crate::runtime::{Runtime, RuntimeConfig, RuntimeError};
use script::{Scopes, Script};
use verdict::{Judgement, Verdict, judge};

/// Replays recorded reconciles against candidates.
pub struct Replayer {
    runtime: Runtime,
}

impl Replayer {
    /// A runtime that reaches nothing: no cluster, no endpoint. Candidates
    /// are loaded against `grants`.
    pub fn new(cache_dir: Dir, grants: Grants) -> Result<Self, RuntimeError> {
        let config = RuntimeConfig {
            engine: EngineSettings::default(),
            output: OutputLimits::default(),
            cache_dir,
            grants,
        };
        let backends = Backends { kube: Arc::new(Offline), nsx: None, vcenter: None };
        Ok(Self { runtime: Runtime::new(config, backends)? })
    }

    /// Compiles and checks a candidate against its grant, as a live load
    /// would. Blocking (compiles).
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<Plugin>, LoadError> {
        self.runtime.load(bytes)
    }

    /// Replays each of `records`, in order, against `candidate`.
    pub async fn replay(&self, candidate: &Arc<Plugin>, records: &[Record]) -> Vec<Verdict> {
        let scopes = Arc::new(Scopes::learn(records));
        let mut verdicts = Vec::with_capacity(records.len());
        for record in records {
            verdicts.push(self.one(candidate, record, &scopes).await);
        }
        verdicts
    }

    async fn one(&self, candidate: &Arc<Plugin>, record: &Record, scopes: &Arc<Scopes>) -> Verdict {
        let diverged = |why: &str| Verdict::on(record, Judgement::Diverged { reads: vec![why.to_owned()] });
        let Some(input) = &record.input else {
            return diverged("the record keeps no input object (it was over the size a record keeps)");
        };
        let export = match record.export.as_str() {
            "finalize" => Export::Finalize,
            _ => Export::Reconcile,
        };
        let o = &record.object;
        let target = ObjectRef {
            cluster: o.cluster.clone(),
            api_version: o.api_version.clone(),
            kind: o.kind.clone(),
            namespace: o.namespace.clone(),
            name: o.name.clone(),
        };
        let request = Request { target, object: input.to_string() };
        let script = Arc::new(Script::new(record, scopes.clone()));
        let rehearsed = self.runtime.dispatcher().rehearse(candidate, export, &request, script.clone()).await;
        match rehearsed {
            Some(candidate) => Verdict::on(record, judge(record, &candidate, script.diverged())),
            None => diverged("the replay was stopped"),
        }
    }
}

/// The kube backend of a replay: never reached, since the script answers
/// every call; if it were, it would say so rather than reach a cluster.
struct Offline;

fn offline() -> KubeError {
    KubeError::Internal("a replay reaches no cluster; the recording answers every call".into())
}

#[async_trait]
impl KubeBackend for Offline {
    async fn scope(&self, _: &str, _: &str, _: &str) -> Result<ResourceScope, KubeError> {
        Err(offline())
    }
    async fn get(&self, _: &ObjectRef, _: ReadSource) -> Result<Value, KubeError> {
        Err(offline())
    }
    async fn list(
        &self,
        _: &KindScope,
        _: Option<&LabelSelector>,
        _: ReadSource,
    ) -> Result<Vec<Value>, KubeError> {
        Err(offline())
    }
    async fn apply(&self, _: &ObjectRef, _: &Value, _: &str, _: bool, _: bool) -> Result<Value, KubeError> {
        Err(offline())
    }
    async fn delete(&self, _: &ObjectRef) -> Result<(), KubeError> {
        Err(offline())
    }
}
