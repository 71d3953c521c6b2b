//! One recorded reconcile as the stand-in for a candidate's outside world.
//!
//! A read is answered with the recorded result of the same call (same
//! interface, function and arguments), the first one not yet given back,
//! else the last one given (a candidate that reads twice). A write is
//! answered with the recorded result of the same write, else as the API
//! would answer it (an apply returns what was applied). A read the
//! recording does not hold, or holds only a summary of, makes the candidate
//! diverge: it gets `unavailable`, and the script says what it asked. A
//! shadow's script ([`Script::shadowing`]) lets such a read through to the
//! real backend instead: a shadow runs beside the live plugin, online.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};

use crate::recorder::finish::is_summary;
use crate::recorder::record::{CallResult, HostCall, Record, WasiRead};
use crate::runtime::dispatch::ErrorKind;
use crate::runtime::stand_in::{Answer, Asked, ReplayedClocks, StandIn};

/// Each kind's scope as discovery answered it while recording, across the
/// records being replayed: `(cluster, apiVersion, kind)` → `Namespaced` or
/// `Cluster`.
#[derive(Debug, Default)]
pub struct Scopes(BTreeMap<(String, String, String), String>);

impl Scopes {
    /// What `records` learned: the scope each kube call recorded, and the
    /// reconciled objects' own kinds.
    pub fn learn(records: &[Record]) -> Self {
        let mut scopes = BTreeMap::new();
        for record in records {
            let o = &record.object;
            let scope = if o.namespace.is_some() { "Namespaced" } else { "Cluster" };
            scopes.insert((o.cluster.clone(), o.api_version.clone(), o.kind.clone()), scope.to_owned());
            for call in &record.calls {
                if let (Some(kind), Some(scope)) =
                    (kind_of(call), call.args.get("scope").and_then(Value::as_str))
                {
                    scopes.insert(kind, scope.to_owned());
                }
            }
        }
        Self(scopes)
    }

    fn of(&self, kind: &(String, String, String)) -> Option<&str> {
        self.0.get(kind).map(String::as_str)
    }
}

/// The `(cluster, apiVersion, kind)` a recorded kube call addresses.
fn kind_of(call: &HostCall) -> Option<(String, String, String)> {
    if call.interface != "kube" {
        return None;
    }
    let args = &call.args;
    let doc = ["target", "kinds", "object"].iter().find_map(|k| args.get(*k))?;
    let cluster =
        ["/cluster", "/target/cluster", "/kinds/cluster"].iter().find_map(|p| args.pointer(p)?.as_str())?;
    let field = |name: &str| doc.get(name).and_then(Value::as_str).map(str::to_owned);
    Some((cluster.to_owned(), field("apiVersion")?, field("kind")?))
}

/// The `(cluster, apiVersion, kind)` a discovery question is about.
fn asked_kind(args: &Value) -> (String, String, String) {
    let field = |name: &str| args.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    (field("cluster"), field("apiVersion"), field("kind"))
}

/// What a script does with a read its recording cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unanswered {
    /// The candidate diverged (offline replay).
    Diverge,
    /// It goes to the real backend (a shadow beside the live plugin).
    PassThrough,
}

/// The stand-in for one replayed reconcile.
#[derive(Debug)]
pub(crate) struct Script {
    unanswered: Unanswered,
    calls: Vec<HostCall>,
    scopes: Arc<Scopes>,
    clocks: ReplayedClocks,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Recorded calls already given back.
    used: Vec<bool>,
    /// What the candidate asked that the recording cannot answer.
    diverged: Vec<String>,
}

impl Script {
    pub(crate) fn new(record: &Record, scopes: Arc<Scopes>) -> Self {
        let (mut wall, mut monotonic) = (Vec::new(), Vec::new());
        for read in &record.wasi {
            match read {
                WasiRead::WallClock { nanos } => wall.push(*nanos),
                WasiRead::MonotonicClock { nanos } => monotonic.push(*nanos),
            }
        }
        Self {
            unanswered: Unanswered::Diverge,
            calls: record.calls.clone(),
            scopes,
            clocks: ReplayedClocks::new(wall, monotonic),
            state: Mutex::new(State { used: vec![false; record.calls.len()], diverged: Vec::new() }),
        }
    }

    /// The stand-in for a shadow of the live call `live`: what the live
    /// call read, the shadow reads the same; reads it did not make go to
    /// the real backends; writes are answered, never sent.
    pub(crate) fn shadowing(live: &Record) -> Self {
        let scopes = Arc::new(Scopes::learn(std::slice::from_ref(live)));
        Self { unanswered: Unanswered::PassThrough, ..Self::new(live, scopes) }
    }

    /// What the candidate asked that the recording could not answer.
    pub(crate) fn diverged(&self) -> Vec<String> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).diverged.clone()
    }

    /// Discovery, as the next recorded call of the kind met it: its scope,
    /// or the error that ended it before it learned one. A kind this
    /// record never reached is answered from what the other records learned.
    fn scope(&self, asked: &Asked<'_>, state: &mut State) -> Option<Answer> {
        let kind = asked_kind(asked.args);
        let next = (0..self.calls.len())
            .find(|&i| !state.used[i] && kind_of(&self.calls[i]).as_ref() == Some(&kind));
        if let Some(i) = next {
            let call = &self.calls[i];
            match (call.args.get("scope"), &call.result) {
                (Some(scope), _) => return Some(Ok(scope.clone())),
                (None, CallResult::Error { .. }) => {
                    state.used[i] = true;
                    return Some(self.recorded(asked, call, state));
                }
                (None, _) => {}
            }
        }
        match (self.scopes.of(&kind), self.unanswered) {
            (Some(scope), _) => Some(Ok(Value::String(scope.to_owned()))),
            (None, Unanswered::PassThrough) => None,
            (None, Unanswered::Diverge) => Some(Err(diverge(
                state,
                format!("{}: the recording never says whether it is namespaced", what(asked)),
            ))),
        }
    }

    fn recorded(&self, asked: &Asked<'_>, call: &HostCall, state: &mut State) -> Answer {
        match &call.result {
            CallResult::Ok { value } => match summarized(asked, value) {
                Some(summary) => Err(diverge(
                    state,
                    format!(
                        "{}: the recording keeps only a summary of its answer ({})",
                        what(asked),
                        summary["omitted"]
                    ),
                )),
                None => Ok(value.clone()),
            },
            CallResult::Error { kind, message } => {
                Err((ErrorKind::parse(kind).unwrap_or(ErrorKind::Internal), message.clone()))
            }
            CallResult::Denied { what: denied } => Err(diverge(
                state,
                format!(
                    "{}: the recorded version was refused it ({denied}), the candidate is not",
                    what(asked)
                ),
            )),
            CallResult::Limit { message } => Err(diverge(
                state,
                format!(
                    "{}: a limit ended the recorded call ({message}), the candidate's call ran",
                    what(asked)
                ),
            )),
        }
    }
}

/// The summary the recorder kept instead of an answer too big to keep: the
/// whole answer, or an NSX or vCenter response's body (its status is kept).
fn summarized<'v>(asked: &Asked<'_>, value: &'v Value) -> Option<&'v Value> {
    if is_summary(value) {
        return Some(value);
    }
    let endpoint = matches!(asked.interface, "nsx" | "vcenter");
    value.get("body").filter(|body| endpoint && is_summary(body))
}

impl StandIn for Script {
    fn answer(&self, asked: &Asked<'_>) -> Option<Answer> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if asked.function == "scope" {
            return self.scope(asked, &mut state);
        }
        let same = |c: &HostCall| {
            c.interface == asked.interface && c.function == asked.function && c.args == *asked.args
        };
        let unused = (0..self.calls.len()).find(|&i| !state.used[i] && same(&self.calls[i]));
        let found = match unused {
            Some(i) => {
                state.used[i] = true;
                Some(i)
            }
            None => self.calls.iter().rposition(same),
        };
        Some(match found {
            Some(i) => self.recorded(asked, &self.calls[i], &mut state),
            None if asked.writes() => Ok(written(asked)),
            None if self.unanswered == Unanswered::PassThrough => return None,
            None => Err(diverge(&mut state, format!("{}: the recording holds no such call", what(asked)))),
        })
    }

    fn clocks(&self) -> Option<ReplayedClocks> {
        Some(self.clocks.clone())
    }
}

/// Notes a divergence; the candidate gets `unavailable`.
fn diverge(state: &mut State, what: String) -> (ErrorKind, String) {
    state.diverged.push(what);
    (ErrorKind::Unavailable, "replay: the recording holds no answer to this call".to_owned())
}

/// A write the recording does not hold, answered as the API would: an
/// apply returns the object applied, a delete nothing, a request its body.
fn written(asked: &Asked<'_>) -> Value {
    match (asked.interface, asked.function) {
        ("kube", "apply" | "apply-status") => asked.args.get("object").cloned().unwrap_or(Value::Null),
        ("kube", _) => Value::Null,
        _ => json!({"status": 200, "body": asked.args.get("body").cloned().unwrap_or(Value::Null)}),
    }
}

/// A call in words: `kube get v1/ConfigMap ns/name`, `nsx GET /path`.
pub(crate) fn what(asked: &Asked<'_>) -> String {
    describe(asked.interface, asked.function, asked.args)
}

/// [`what`] for a call's parts.
pub(crate) fn describe(interface: &str, function: &str, args: &Value) -> String {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    if interface != "kube" {
        return format!("{interface} {} {}", text(args.get("method")), text(args.get("path")));
    }
    let (api_version, kind, namespace, name) =
        match (args.get("target"), args.get("kinds"), args.get("object")) {
            (Some(t), _, _) => (t.get("apiVersion"), t.get("kind"), t.get("namespace"), t.get("name")),
            (_, Some(k), _) => (k.get("apiVersion"), k.get("kind"), k.get("namespace"), None),
            (_, _, Some(o)) => (
                o.get("apiVersion"),
                o.get("kind"),
                o.pointer("/metadata/namespace"),
                o.pointer("/metadata/name"),
            ),
            _ => (args.get("apiVersion"), args.get("kind"), None, None),
        };
    let place = match (text(namespace), text(name)) {
        (ns, name) if ns.is_empty() && name.is_empty() => String::new(),
        (ns, name) if ns.is_empty() => format!(" {name}"),
        (ns, name) if name.is_empty() => format!(" in {ns}"),
        (ns, name) => format!(" {ns}/{name}"),
    };
    format!("kube {function} {}/{}{place}", text(api_version), text(kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::record::Outcome;

    fn call(function: &str, args: Value, result: CallResult) -> HostCall {
        HostCall { interface: "kube".into(), function: function.into(), args, result, us: 0, before: None }
    }

    fn record(calls: Vec<HostCall>) -> Record {
        Record { wasi: vec![WasiRead::WallClock { nanos: 7 }], ..Record::sample(calls, Outcome::Done) }
    }

    fn get(name: &str) -> Value {
        json!({"target": {"cluster": "default", "apiVersion": "v1", "kind": "ConfigMap", "namespace": "ns", "name": name}, "from": "cache", "scope": "Namespaced"})
    }

    #[test]
    fn reads_are_answered_in_order_then_again_and_unknown_ones_diverge() {
        let first = CallResult::Ok { value: json!({"n": 1}) };
        let second = CallResult::Error { kind: "not-found".into(), message: "gone".into() };
        let script = Script::new(
            &record(vec![call("get", get("b"), first), call("get", get("b"), second)]),
            Arc::new(Scopes::default()),
        );
        let args = get("b");
        let asked = Asked { interface: "kube", function: "get", args: &args };
        assert_eq!(script.answer(&asked), Some(Ok(json!({"n": 1}))));
        assert_eq!(script.answer(&asked), Some(Err((ErrorKind::NotFound, "gone".into()))));
        assert_eq!(script.answer(&asked), Some(Err((ErrorKind::NotFound, "gone".into()))), "read again");
        assert!(script.diverged().is_empty());
        let other = get("c");
        let answer = script.answer(&Asked { interface: "kube", function: "get", args: &other });
        assert!(matches!(answer, Some(Err((ErrorKind::Unavailable, _)))));
        assert_eq!(script.diverged(), ["kube get v1/ConfigMap ns/c: the recording holds no such call"]);
    }

    #[test]
    fn an_unrecorded_apply_returns_what_was_applied_and_scopes_come_from_the_records() {
        let applied = json!({"cluster": "default", "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, "scope": "Namespaced"});
        let rec = record(vec![call("get", get("b"), CallResult::Ok { value: json!({}) })]);
        let scopes = Arc::new(Scopes::learn(std::slice::from_ref(&rec)));
        let script = Script::new(&rec, scopes);
        let answer = script.answer(&Asked { interface: "kube", function: "apply", args: &applied });
        assert_eq!(answer, Some(Ok(applied["object"].clone())));
        let discovery = json!({"cluster": "default", "apiVersion": "v1", "kind": "ConfigMap"});
        let scope = script.answer(&Asked { interface: "kube", function: "scope", args: &discovery });
        assert_eq!(scope, Some(Ok(json!("Namespaced"))));
        let unknown = json!({"cluster": "default", "apiVersion": "v1", "kind": "Secret"});
        assert!(matches!(
            script.answer(&Asked { interface: "kube", function: "scope", args: &unknown }),
            Some(Err((ErrorKind::Unavailable, _)))
        ));
        assert_eq!(script.diverged().len(), 1);
    }

    #[test]
    fn a_summarised_answer_diverges() {
        let summary = CallResult::Ok { value: json!({"omitted": "40000 bytes", "items": []}) };
        let script = Script::new(&record(vec![call("get", get("b"), summary)]), Arc::new(Scopes::default()));
        let args = get("b");
        assert!(matches!(
            script.answer(&Asked { interface: "kube", function: "get", args: &args }),
            Some(Err((ErrorKind::Unavailable, _)))
        ));
        assert!(script.diverged()[0].contains("only a summary"), "{:?}", script.diverged());
    }

    #[test]
    fn an_endpoint_response_whose_body_was_summarised_diverges() {
        // A list of every virtual server across many clusters is past what the recorder keeps.
        let args = json!({"method": "GET", "path": "/policy/api/v1/infra/lb-virtual-servers"});
        let summary = CallResult::Ok { value: json!({"status": 200, "body": {"omitted": "52000 bytes"}}) };
        let listed = HostCall { interface: "nsx".into(), ..call("request", args.clone(), summary) };
        let script = Script::new(&record(vec![listed]), Arc::new(Scopes::default()));
        let answer = script.answer(&Asked { interface: "nsx", function: "request", args: &args });
        assert!(matches!(answer, Some(Err((ErrorKind::Unavailable, _)))), "{answer:?}");
        assert!(script.diverged()[0].contains("only a summary"), "{:?}", script.diverged());
    }
}
