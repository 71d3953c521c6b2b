//! `wasmvisor why` as people read it: each record, newest first, with its
//! triggers in words, its calls and what each write changed, its outcome.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use super::diff::apply_diff;
use super::finish::call_target;
use super::record::{CallResult, HostCall, Outcome, Record};
use crate::controller::queue::Reason;

/// The text of `records` (newest first, as [`super::store::Reader::object`]
/// returns them). A requeue names the version that asked for it: that of
/// the object's previous reconcile, the next record in the list.
pub fn why(records: &[Record]) -> String {
    if records.is_empty() {
        return "no recorded reconciles for this object\n".to_owned();
    }
    let mut out = String::new();
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        one(&mut out, record, records.get(i + 1));
    }
    out
}

fn one(out: &mut String, r: &Record, previous: Option<&Record>) {
    let when = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(r.started_ms));
    let digest = r.plugin.digest.get(..19).unwrap_or(&r.plugin.digest);
    let _ =
        writeln!(out, "#{} {when} {} by {}@{} ({digest}…)", r.id, r.export, r.plugin.name, r.plugin.version);
    let o = &r.object;
    let mut seen = format!(
        "  object:  {}/{}",
        o.kind,
        o.namespace.as_deref().map_or(o.name.clone(), |ns| format!("{ns}/{}", o.name))
    );
    let _ = write!(seen, " in {}", o.cluster);
    if let Some(rv) = &o.resource_version {
        let _ = write!(seen, ", resourceVersion {rv}");
    }
    if let Some(g) = o.generation {
        let _ = write!(seen, ", generation {g}");
    }
    let _ = writeln!(out, "{seen}");
    let asked_by = previous.map(|p| p.plugin.version.as_str());
    let mut words: Vec<String> = r.triggers.iter().map(|t| trigger(t, asked_by)).collect();
    if r.more_triggers > 0 {
        words.push(format!("{} more", r.more_triggers));
    }
    let _ = writeln!(
        out,
        "  why:     {}",
        if words.is_empty() { "a direct call".to_owned() } else { words.join("; ") }
    );
    if r.calls.is_empty() {
        let _ = writeln!(out, "  calls:   none");
    }
    for (n, call) in r.calls.iter().enumerate() {
        let label = if n == 0 { "  calls:  " } else { "         " };
        let _ = writeln!(out, "{label} {}. {}", n + 1, call_line(call));
        for line in write_lines(call) {
            let _ = writeln!(out, "              {line}");
        }
    }
    for (n, log) in r.logs.iter().enumerate() {
        let label = if n == 0 { "  logs:   " } else { "         " };
        let sep = if log.fields.is_empty() { "" } else { "  " };
        let _ = writeln!(out, "{label} {:<5} {}{sep}{}", log.level, log.message, log.fields);
    }
    let _ = writeln!(
        out,
        "  outcome: {}  (guest {}, host calls {})",
        outcome(&r.outcome),
        ms(r.guest_us()),
        ms(r.host_us)
    );
}

/// A trigger in words; `asked_by` is the version that asked for a requeue.
pub fn trigger(reason: &Reason, asked_by: Option<&str>) -> String {
    match reason {
        Reason::Started => "the plugin's controller started and listed it".to_owned(),
        Reason::LeaderElected => "this replica became the leader".to_owned(),
        Reason::ObjectChanged => "the object changed".to_owned(),
        Reason::OwnedChanged { owned } => format!("the {} it owns changed", short_ref(owned)),
        Reason::RelatedChanged { related } => format!("the related {} changed", short_ref(related)),
        Reason::Requeue { after } => {
            let after = humantime::format_duration(*after);
            match asked_by {
                Some(v) => format!("requeue-after {after} asked by {v}"),
                None => format!("requeue-after {after} asked by the plugin"),
            }
        }
        Reason::Backoff { failures: 1 } => "retry after 1 failure (backoff)".to_owned(),
        Reason::Backoff { failures } => format!("retry after {failures} failures (backoff)"),
        Reason::Resync => "the periodic resync".to_owned(),
        Reason::PluginChanged { plugin } => format!("plugin {plugin} was loaded"),
    }
}

/// `cluster/apiVersion/Kind/ns/name` as `Kind ns/name` (`in cluster` unless default).
fn short_ref(full: &str) -> String {
    let parts: Vec<&str> = full.split('/').collect();
    // cluster, apiVersion (one or two parts), kind, [namespace], name.
    let Some(kind_at) = parts.iter().skip(1).position(|p| p.starts_with(|c: char| c.is_ascii_uppercase()))
    else {
        return full.to_owned();
    };
    let kind_at = kind_at + 1;
    let rest = parts[kind_at + 1..].join("/");
    let cluster = parts[0];
    let place =
        if cluster == wasmvisor_manifest::DEFAULT_CLUSTER { String::new() } else { format!(" in {cluster}") };
    format!("{} {rest}{place}", parts[kind_at])
}

fn call_line(call: &HostCall) -> String {
    let what = match call.interface.as_str() {
        "kube" => {
            let target = call_target(call).map(|(_, kind, ns, name)| match ns {
                Some(ns) => format!("{kind} {ns}/{name}"),
                None => format!("{kind} {name}"),
            });
            let target = target.or_else(|| {
                let kinds = call.args.get("kinds")?;
                let kind = kinds.get("kind")?.as_str()?;
                Some(match kinds.get("namespace").and_then(Value::as_str) {
                    Some(ns) => format!("{kind} in {ns}"),
                    None => format!("{kind} (all namespaces)"),
                })
            });
            target.unwrap_or_default()
        }
        _ => format!(
            "{} {}",
            call.args.get("method").and_then(Value::as_str).unwrap_or("?"),
            call.args.get("path").and_then(Value::as_str).unwrap_or("?")
        ),
    };
    let result = match &call.result {
        CallResult::Ok { value } => match value {
            Value::Array(items) => format!("ok, {} items", items.len()),
            Value::Object(map) if map.contains_key("status") && call.interface != "kube" => {
                map["status"].to_string()
            }
            _ => "ok".to_owned(),
        },
        CallResult::Error { kind, message } => format!("{kind}: {message}"),
        CallResult::Denied { what } => format!("DENIED ({what})"),
        CallResult::Limit { message } => format!("limit: {message}"),
    };
    format!("{}.{} {what} → {result}  {}", call.interface, call.function, ms(call.us))
}

/// What a write changed, in a few lines.
fn write_lines(call: &HostCall) -> Vec<String> {
    if call.interface != "kube" || !matches!(call.result, CallResult::Ok { .. }) {
        return Vec::new();
    }
    match call.function.as_str() {
        "apply" | "apply-status" => {
            let Some(applied) = call.args.get("object") else { return Vec::new() };
            let lines = apply_diff(call.before.as_ref().filter(|b| !b.is_null()), applied);
            if lines.is_empty() { vec!["(no change)".to_owned()] } else { lines }
        }
        "delete" => vec![if call.before.as_ref().is_some_and(|b| !b.is_null()) {
            "- deleted".to_owned()
        } else {
            "- deleted (not read before)".to_owned()
        }],
        _ => Vec::new(),
    }
}

fn outcome(o: &Outcome) -> String {
    match o {
        Outcome::Done => "done".to_owned(),
        Outcome::RequeueAfter { ms } => {
            format!("requeue-after {}", humantime::format_duration(Duration::from_millis(*ms)))
        }
        Outcome::Error { kind, message } => format!("error {kind}: {message}"),
        Outcome::Trap { message, backtrace } => match backtrace {
            Some(bt) => format!("trap: {message}\n{bt}"),
            None => format!("trap: {message}"),
        },
        Outcome::Limit { message } => format!("limit hit: {message}"),
        Outcome::Instantiate { message } => format!("not instantiated: {message}"),
    }
}

fn ms(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_read_as_kind_and_name() {
        assert_eq!(short_ref("default/v1/Endpoints/default/web"), "Endpoints default/web");
        assert_eq!(short_ref("guest/apps/v1/Deployment/ns/d"), "Deployment ns/d in guest");
        assert_eq!(short_ref("default/v1/Namespace/n"), "Namespace n");
    }

    #[test]
    fn requeues_name_who_asked() {
        let r = Reason::Requeue { after: Duration::from_secs(30) };
        assert_eq!(trigger(&r, Some("0.3.1")), "requeue-after 30s asked by 0.3.1");
    }
}
