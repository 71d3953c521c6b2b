//! What the CLI's process tests share: the real binary and kubectl as
//! child processes, and polling with a deadline that fails naming what it
//! waited for and the last state it saw.

#![allow(dead_code, unreachable_pub)] // each test binary uses its own part

use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Generous: the machine is shared and first starts compile components.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Bound on `up` coming up: it compiles every bundled plugin on a new data
/// directory, which on a loaded 2-core machine with several `up`s at once
/// takes minutes (alone, seconds).
pub const STARTUP: Duration = Duration::from_secs(240);

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `wasmvisor ARGS` to completion, with no ambient wasmvisor settings.
pub fn wasmvisor(args: &[&str]) -> Output {
    command(args).output().expect("the binary runs")
}

pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasmvisor"));
    command.args(args);
    for var in ["WASMVISOR_DATA_DIR", "WASMVISOR_ADMIN_TOKEN", "WASMVISOR_CONFIG", "WASMVISOR_LISTEN"] {
        command.env_remove(var);
    }
    command
}

/// `kubectl --kubeconfig KUBECONFIG ARGS`, with `stdin` fed to it.
pub fn kubectl(kubeconfig: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// `kubectl apply -f -` of `yaml`, which must succeed.
pub fn apply(kubeconfig: &Path, yaml: &str) {
    let out = kubectl(kubeconfig, &["apply", "-f", "-"], yaml);
    assert!(out.status.success(), "kubectl apply: {}{}", text(&out.stdout), text(&out.stderr));
}

/// `kubectl get ARGS -o jsonpath=TEMPLATE`: the text, or `None` if kubectl failed.
pub fn jsonpath(kubeconfig: &Path, args: &[&str], template: &str) -> Option<String> {
    let output = format!("jsonpath={template}");
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", &output]);
    let out = kubectl(kubeconfig, &all, "");
    out.status.success().then(|| text(&out.stdout))
}

/// Polls `check` until it returns `Some`; panics naming `what` and the last
/// state `check` reported after `deadline`.
pub fn eventually<T>(what: &str, deadline: Duration, mut check: impl FnMut(&mut String) -> Option<T>) -> T {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        if let Some(value) = check(&mut last) {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}; last seen: {last}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process whose output is collected as it comes; killed if still
/// running when dropped, so a failing test leaves nothing behind.
pub struct Process {
    name: String,
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    /// The threads draining stdout and stderr; joined once the process exited.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Process {
    pub fn spawn(name: &str, mut command: Command) -> Process {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {name}: {e}"));
        let mut readers = Vec::new();
        let mut collect = |pipe: Box<dyn Read + Send>| {
            let buffer = Arc::new(Mutex::new(String::new()));
            let sink = buffer.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    let mut sink = sink.lock().unwrap();
                    sink.push_str(&line);
                    sink.push('\n');
                }
            }));
            buffer
        };
        let stdout = collect(Box::new(child.stdout.take().unwrap()));
        let stderr = collect(Box::new(child.stderr.take().unwrap()));
        Process { name: name.to_owned(), child, stdout, stderr, readers }
    }

    pub fn output(&self) -> String {
        format!(
            "--- {} stdout\n{}--- stderr\n{}",
            self.name,
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }

    /// The rest of the first stdout or stderr line that starts with `prefix`,
    /// once one is printed; panics if the process exits first.
    pub fn wait_for_line(&mut self, prefix: &str) -> String {
        self.wait_for_line_within(prefix, DEADLINE)
    }

    /// As [`Process::wait_for_line`], waiting at most `deadline`.
    pub fn wait_for_line_within(&mut self, prefix: &str, deadline: Duration) -> String {
        let what = format!("{} to print {prefix:?}", self.name);
        eventually(&what, deadline, |last| {
            for stream in [&self.stdout, &self.stderr] {
                let found =
                    stream.lock().unwrap().lines().find_map(|l| l.strip_prefix(prefix).map(str::to_owned));
                if found.is_some() {
                    return found;
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited ({status}) before printing {prefix:?}\n{}", self.name, self.output());
            }
            *last = self.output();
            None
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (a `kill -s` name such as INT or TERM).
    pub fn signal(&self, signal: &str) {
        let status =
            Command::new("kill").args(["-s", signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -s {signal} {}", self.name);
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// The exit status, once the process has exited.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let what = format!("{} to exit", self.name);
        let status = eventually(&what, DEADLINE, |last| {
            *last = self.output();
            self.child.try_wait().unwrap()
        });
        // The pipes close at exit, so the readers end with all the output.
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        status
    }
}

/// How many of a process's warning and error lines a failing test prints.
const FAILURE_LOG_LINES: usize = 120;

impl Drop for Process {
    fn drop(&mut self) {
        // A test failing on a process's behalf (e.g. a timeout) says why only
        // in the process's own log: print its warnings and errors with the panic.
        if std::thread::panicking() {
            let output = self.output();

            let notable: Vec<&str> =
                output.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect();
            let tail = &notable[notable.len().saturating_sub(FAILURE_LOG_LINES)..];
            eprintln!("--- {}: last {} warnings and errors\n{}", self.name, tail.len(), tail.join("\n"));
        }
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `wasmvisor up --data-dir DIR --listen 127.0.0.1:0`, once it is up; returns
/// the process and the kubeconfig it printed.
pub fn up(dir: &Path) -> (Process, PathBuf) {
    up_with(dir, &[])
}

/// As [`up`], with `extra` arguments (e.g. the network ranges).
pub fn up_with(dir: &Path, extra: &[&str]) -> (Process, PathBuf) {
    let mut args = vec!["up", "--data-dir", path(dir), "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut up = Process::spawn("wasmvisor up", command(&args));
    let kubeconfig = PathBuf::from(up.wait_for_line_within("  kubeconfig  ", STARTUP).trim());
    assert_eq!(kubeconfig, dir.canonicalize().unwrap().join("kubeconfig"), "{}", up.output());
    (up, kubeconfig)
}

/// Polls `kubectl get ARGS -o jsonpath=TEMPLATE` until it prints `want`.
pub fn wait_jsonpath(kubeconfig: &Path, args: &[&str], template: &str, want: &str) {
    let what = format!("`kubectl get {}` {template} to be {want:?}", args.join(" "));
    eventually(&what, DEADLINE, |last| {
        let got = jsonpath(kubeconfig, args, template);
        *last = format!("{got:?}");
        (got.as_deref() == Some(want)).then_some(())
    });
}
