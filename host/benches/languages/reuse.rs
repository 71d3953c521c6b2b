//! What instance reuse would buy: the same reconcile on a fresh instance
//! (the runtime's policy) against repeated calls on one instance, with
//! bare-bones host functions (an in-memory store, no grant checks, no
//! budgets) so the difference is the instance alone.
//!
//! This measures a policy the runtime does not have; it is here to decide
//! with numbers, not to offer it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmvisor_host::capability::kube::{KubeBackend, KubeError, MemoryKube, ReadSource};
use wasmvisor_host::object::KindScope;
use wasmvisor_host::runtime::bindings::wasmvisor::plugin::{kube, log, nsx, types, vcenter};
use wasmvisor_host::runtime::bindings::{HostCallError, Reconciler, ReconcilerPre};
use wasmvisor_host::{ObjectRef, Request};

pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    kube: Arc<MemoryKube>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

fn failed(e: KubeError) -> HostCallError {
    HostCallError::Failed(e.into())
}

fn parse(object: &str) -> Result<(ObjectRef, Value), HostCallError> {
    let value: Value = serde_json::from_str(object)
        .map_err(|e| HostCallError::Failed(types::Error::Invalid(e.to_string())))?;
    let target = ObjectRef::of("default", &value)
        .map_err(|e| HostCallError::Failed(types::Error::Invalid(e.to_string())))?;
    Ok((target, value))
}

impl types::Host for State {
    fn convert_error(&mut self, err: HostCallError) -> wasmtime::Result<types::Error> {
        match err {
            HostCallError::Denied(m) => Ok(types::Error::Forbidden(m)),
            HostCallError::Failed(e) => Ok(e),
            HostCallError::Limit(l) => Err(wasmtime::Error::new(l)),
        }
    }
}

impl kube::Host for State {
    async fn get(&mut self, target: types::ObjectRef, _: kube::ReadSource) -> Result<String, HostCallError> {
        let value = self.kube.get(&ObjectRef::from(target), ReadSource::Cache).await.map_err(failed)?;
        Ok(value.to_string())
    }

    async fn list(
        &mut self,
        kinds: types::KindRef,
        _: Option<String>,
        _: kube::ReadSource,
    ) -> Result<Vec<String>, HostCallError> {
        let scope = KindScope {
            cluster: kinds.cluster,
            api_version: kinds.api_version,
            kind: kinds.kind,
            namespace: kinds.namespace,
        };
        let items = self.kube.list(&scope, None, ReadSource::Cache).await.map_err(failed)?;
        Ok(items.iter().map(Value::to_string).collect())
    }

    async fn apply(&mut self, _: String, object: String) -> Result<String, HostCallError> {
        let (target, value) = parse(&object)?;
        Ok(self.kube.apply(&target, &value, "bench", false, true).await.map_err(failed)?.to_string())
    }

    async fn apply_status(&mut self, _: String, object: String) -> Result<String, HostCallError> {
        let (target, value) = parse(&object)?;
        Ok(self.kube.apply(&target, &value, "bench", true, true).await.map_err(failed)?.to_string())
    }

    async fn delete(&mut self, target: types::ObjectRef) -> Result<(), HostCallError> {
        self.kube.delete(&ObjectRef::from(target)).await.map_err(failed)
    }
}

impl nsx::Host for State {
    async fn request(&mut self, _: types::HttpRequest) -> Result<types::HttpResponse, HostCallError> {
        Err(HostCallError::Denied("nsx".into()))
    }
}

impl vcenter::Host for State {
    async fn request(&mut self, _: types::HttpRequest) -> Result<types::HttpResponse, HostCallError> {
        Err(HostCallError::Denied("vcenter".into()))
    }
}

impl log::Host for State {
    async fn write(&mut self, _: log::Level, _: String, _: Vec<(String, String)>) -> wasmtime::Result<()> {
        Ok(())
    }
}

/// Median per-call time of fresh instance + call, and of a call on a reused instance.
pub(crate) struct Reuse {
    pub(crate) fresh: Duration,
    pub(crate) reused: Duration,
}

pub(crate) async fn measure(
    engine: &Engine,
    bytes: &[u8],
    kube: Arc<MemoryKube>,
    request: &Request,
    calls: u32,
) -> wasmtime::Result<Reuse> {
    let component = Component::new(engine, bytes)?;
    let mut linker = Linker::<State>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    Reconciler::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    let pre = ReconcilerPre::new(linker.instantiate_pre(&component)?)?;
    let wit_request = types::Request::from(request);
    let new_store = || {
        let state =
            State { wasi: WasiCtx::builder().build(), table: ResourceTable::new(), kube: kube.clone() };
        let mut store = Store::new(engine, state);
        store.set_epoch_deadline(u64::MAX / 2);
        store
    };

    let mut samples = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        for _ in 0..calls {
            let mut store = new_store();
            let instance = pre.instantiate_async(&mut store).await?;
            instance
                .call_reconcile(&mut store, &wit_request)
                .await?
                .map_err(|e| wasmtime::Error::msg(format!("{e:?}")))?;
        }
        samples.push(started.elapsed() / calls);
    }
    samples.sort();
    let fresh = samples[samples.len() / 2];

    let mut store = new_store();
    let instance = pre.instantiate_async(&mut store).await?;
    let mut samples = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        for _ in 0..calls {
            instance
                .call_reconcile(&mut store, &wit_request)
                .await?
                .map_err(|e| wasmtime::Error::msg(format!("{e:?}")))?;
        }
        samples.push(started.elapsed() / calls);
    }
    samples.sort();
    Ok(Reuse { fresh, reused: samples[samples.len() / 2] })
}
