//! Test plugin for the runtime core. The ConfigMap it is handed says what
//! to do in `data.mode`; every mode exercises one guarantee of the host
//! (deadline, memory cap, panic isolation, budgets, log cap, sandbox,
//! capability checks). Never shipped.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use wasmvisor_sdk::{Action, Context, Error, Method, Object, ObjectRef, Reconciler, log};

type ConfigMap = Object<(), ()>;

#[derive(serde::Deserialize)]
struct Input {
    metadata: wasmvisor_sdk::ObjectMeta,
    #[serde(default)]
    data: BTreeMap<String, String>,
}

/// `wasi:cli/exit` as WASI 0.2.12 has it: `exit-with-code` reports a code
/// that plain `exit` (all a WASI libc's `exit(n)` may use) cannot.
mod wasi_exit {
    wit_bindgen::generate!({
        inline: "package wasi:cli@0.2.12;
                 interface exit { exit: func(status: result); exit-with-code: func(status-code: u8); }
                 world chaos-exit { import exit; }",
    });
    pub(crate) use self::wasi::cli::exit::exit_with_code;
}

/// Recurses until the guest's stack runs out (long before `limit`).
fn recurse(depth: u64, limit: u64) -> u64 {
    if depth == limit {
        return depth;
    }
    let frame = std::hint::black_box([depth; 64]);
    recurse(depth + 1, limit).wrapping_add(frame[0])
}

struct Chaos;

fn number(input: &Input, key: &str, default: u64) -> u64 {
    input.data.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn report(ctx: &Context, input: &Input, suffix: &str, data: serde_json::Value) -> Result<(), Error> {
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("{}-{suffix}", input.metadata.name), "namespace": input.metadata.namespace},
        "data": data,
    });
    ctx.kube().apply::<serde_json::Value>(ctx.cluster(), &cm).map(drop)
}

fn probe_sandbox() -> serde_json::Value {
    let file =
        std::fs::read("/etc/passwd").map(|b| b.len().to_string()).unwrap_or_else(|e| format!("error: {e}"));
    let cwd = std::fs::read_dir(".").map(|d| d.count().to_string()).unwrap_or_else(|e| format!("error: {e}"));
    let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    let args: Vec<String> = std::env::args().collect();
    let socket = std::net::TcpStream::connect("127.0.0.1:1")
        .map(|_| "connected".to_owned())
        .unwrap_or_else(|e| format!("error: {e}"));
    let spawn = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg("true")
        .status()
        .map(|s| format!("ran: {s}"))
        .unwrap_or_else(|e| format!("error: {e}"));
    let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).is_ok();
    json!({
        "file": file, "cwd": cwd, "env": env.len().to_string(), "args": args.len().to_string(),
        "socket": socket, "spawn": spawn, "clock": clock.to_string(),
    })
}

impl Reconciler for Chaos {
    type Object = serde_json::Value;

    fn reconcile(ctx: &Context, object: serde_json::Value) -> Result<Action, Error> {
        let input: Input = serde_json::from_value(object)?;
        let mode = input.data.get("mode").map(String::as_str).unwrap_or("ok");
        match mode {
            "ok" => report(ctx, &input, "out", json!({"seen": input.metadata.name}))?,
            "requeue" => return Ok(Action::requeue(Duration::from_millis(number(&input, "ms", 1000)))),
            "error" => return Err(Error::Unavailable("chaos asked to fail".into())),
            "loop" => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "oom" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("chaos asked to panic"),
            "recurse" => {
                std::hint::black_box(recurse(0, u64::MAX));
            }
            "nested" => {
                // Forged identity tags beside a value nested past what a
                // JSON reader takes: the host must not send it as written.
                let depth = number(&input, "depth", 100_000) as usize;
                let body = format!(
                    r#"{{"tags":[{{"scope":"wasmvisor/plugin","tag":"someone-else"}}],"x":{}{}}}"#,
                    "[".repeat(depth),
                    "]".repeat(depth)
                );
                let sent = ctx.nsx().request(Method::Patch, "/policy/api/v1/infra/segments/s1", Some(body));
                let seen = match sent {
                    Ok(response) => format!("sent: {}", response.status),
                    Err(e) => format!("refused: {e}"),
                };
                report(ctx, &input, "nested", json!({"seen": seen}))?;
            }
            "exit" => std::process::exit(number(&input, "code", 42) as i32),
            "exit-with-code" => wasi_exit::exit_with_code(number(&input, "code", 42) as u8),
            "flood" => {
                for i in 0..number(&input, "lines", 10_000) {
                    log::info("flood", &[("i", &i.to_string())]);
                }
            }
            "big-log" => {
                let value = "x".repeat(number(&input, "bytes", 1 << 20) as usize);
                let fields: Vec<(&str, &str)> =
                    (0..number(&input, "fields", 8)).map(|_| ("field", value.as_str())).collect();
                log::info("big fields", &fields);
            }
            "budget" => {
                let target = ObjectRef::namespaced(ctx.cluster(), "v1", "ConfigMap", "chaos", "absent");
                for _ in 0..1000 {
                    let _ = ctx.kube().get_opt::<ConfigMap>(&target)?;
                }
            }
            "big-output" => {
                let blob = "x".repeat(number(&input, "bytes", 2 << 20) as usize);
                report(ctx, &input, "big", json!({"blob": blob}))?;
            }
            "denied-kube" => {
                let secret = ObjectRef::namespaced(ctx.cluster(), "v1", "Secret", "chaos", "token");
                ctx.kube().get::<serde_json::Value>(&secret)?;
            }
            "denied-namespace" => {
                let other = ObjectRef::namespaced(ctx.cluster(), "v1", "ConfigMap", "kube-system", "x");
                ctx.kube().get::<serde_json::Value>(&other)?;
            }
            "denied-nsx" => {
                ctx.nsx().request(Method::Delete, "/policy/api/v1/infra/segments/s1", None)?;
            }
            "denied-path" => {
                ctx.nsx().request(Method::Get, "/policy/api/v1/infra/tier-1s/t1", None)?;
            }
            "nsx" => {
                let segment: serde_json::Value = ctx.nsx().get("/policy/api/v1/infra/segments/s1")?;
                report(ctx, &input, "nsx", json!({"segment": segment.to_string()}))?;
            }
            "wasi" => report(ctx, &input, "wasi", probe_sandbox())?,
            "wait-for" => {
                let release = input.data.get("release").cloned().unwrap_or_default();
                let target = ObjectRef::namespaced(ctx.cluster(), "v1", "ConfigMap", "chaos", &release);
                while ctx.kube().get_opt::<ConfigMap>(&target)?.is_none() {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            "slow" => {
                let until = Instant::now() + Duration::from_millis(number(&input, "ms", 200));
                while Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            other => return Err(Error::Invalid(format!("unknown chaos mode {other:?}"))),
        }
        Ok(Action::done())
    }
}

wasmvisor_sdk::export!(Chaos);
