//! `wasmvisor up` and `wasmvisor run` as processes: the real binary, the real
//! kubectl, signals and `kill -9`, and what the API server holds afterwards.
//! Everything waits by polling with a deadline and fails naming what it
//! waited for and the last state it saw.

mod support;

use std::path::{Path, PathBuf};

use wasmvisor_host::capability::grant::Grant;
use wasmvisor_host::cluster::{ClusterConfig, ClusterSource};
use wasmvisor_host::config::HostConfig;
use wasmvisor_host::manifest::{Manifest, section};
use wasmvisor_plugins::testing::WIDGET;

use support::{
    DEADLINE, Process, apply, command, eventually, jsonpath, kubectl, path, text, up, up_with, wait_jsonpath,
    wasmvisor,
};

/// The Widget CRD the widget test plugin reconciles (shared with the
/// engine's in-process tests).
const WIDGET_CRD: &str = include_str!("../../host/tests/engine/data/widget-crd.yaml");

/// `wasmvisor plugin list --data-dir DIR` until `plugin` is listed as serving.
fn wait_serving(dir: &Path, plugin: &str) -> String {
    eventually(&format!("{plugin} to be serving in `plugin list`"), DEADLINE, |last| {
        let out = wasmvisor(&["plugin", "list", "--data-dir", path(dir)]);
        *last = format!("{}{}", text(&out.stdout), text(&out.stderr));
        let listed = text(&out.stdout);
        listed
            .lines()
            .any(|l| l.starts_with(&format!("{plugin} ")) && l.ends_with("serving  -"))
            .then_some(listed)
    })
}

/// Scaffolds and builds the Rust plugin `demo` under `home`; returns the component.
fn build_demo(home: &Path) -> PathBuf {
    let project = home.join("demo");
    let out = wasmvisor(&["plugin", "new", "demo", "--path", path(&project)]);
    assert!(out.status.success(), "plugin new: {}", text(&out.stderr));
    let out = wasmvisor(&["plugin", "build", path(&project)]);
    assert!(out.status.success(), "plugin build: {}", text(&out.stderr));
    PathBuf::from(text(&out.stdout).trim())
}

const NAMESPACE: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  labels: {wasmvisor.dev/config: enabled}
  annotations: {config.wasmvisor.dev/region: eu}
";

const DEMO_CONFIG_MAP: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: team-a
  labels: {app.kubernetes.io/part-of: demo}
data: {a: '1', b: '2'}
";

/// A new user's session: `up`, kubectl against the printed kubeconfig, the
/// bundled plugin reconciling, a freshly built plugin dropped into the
/// plugin directory, Ctrl-C, and a second `up` that finds everything again.
#[test]
fn up_serves_kubectl_hot_loads_a_built_plugin_and_comes_back_after_ctrl_c() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    // The build is the slow part; it runs while `up` starts.
    let build = {
        let home = home.path().to_owned();
        std::thread::spawn(move || build_demo(&home))
    };

    let (mut first, kubeconfig) = up(data.path());
    let plugins = data.path().join("plugins");
    assert!(plugins.join("namespace-config.wasm").is_file(), "the bundled plugin is placed on first start");
    for file in ["host.toml", "admin.json"] {
        assert!(data.path().join(file).is_file(), "{file} is written\n{}", first.output());
    }
    apply(&kubeconfig, NAMESPACE);
    wait_jsonpath(&kubeconfig, &["configmap", "wasmvisor-config", "-n", "team-a"], "{.data.region}", "eu");
    let owner = jsonpath(
        &kubeconfig,
        &["configmap", "wasmvisor-config", "-n", "team-a"],
        "{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}",
    );
    assert_eq!(owner.as_deref(), Some("Namespace/team-a"));
    wait_serving(data.path(), "namespace-config");

    let component = build.join().expect("the demo plugin builds");
    let staged = plugins.join(".demo.wasm.tmp");
    std::fs::copy(&component, &staged).unwrap();
    std::fs::rename(&staged, plugins.join("demo.wasm")).unwrap();
    let listed = wait_serving(data.path(), "demo");
    assert!(
        listed.lines().any(|l| l.starts_with("namespace-config ") && l.ends_with("serving  -")),
        "{listed}"
    );
    apply(&kubeconfig, DEMO_CONFIG_MAP);
    wait_jsonpath(
        &kubeconfig,
        &["configmap", "settings", "-n", "team-a"],
        "{.metadata.annotations.demo\\.wasmvisor\\.dev/keys}",
        "2",
    );

    first.signal("INT");
    let status = first.wait_exit();
    assert!(status.success(), "up after Ctrl-C: {status}\n{}", first.output());

    let (mut second, kubeconfig) = up(data.path());
    let region = jsonpath(&kubeconfig, &["configmap", "wasmvisor-config", "-n", "team-a"], "{.data.region}");
    assert_eq!(region.as_deref(), Some("eu"), "{}", second.output());
    let keys = jsonpath(
        &kubeconfig,
        &["configmap", "settings", "-n", "team-a"],
        "{.metadata.annotations.demo\\.wasmvisor\\.dev/keys}",
    );
    assert_eq!(keys.as_deref(), Some("2"), "{}", second.output());
    for plugin in ["namespace-config", "demo"] {
        wait_serving(data.path(), plugin);
    }
    // Both still reconcile after the restart.
    let out = kubectl(&kubeconfig, &["annotate", "namespace", "team-a", "config.wasmvisor.dev/zone=z1"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_jsonpath(&kubeconfig, &["configmap", "wasmvisor-config", "-n", "team-a"], "{.data.zone}", "z1");
    let out = kubectl(
        &kubeconfig,
        &["patch", "configmap", "settings", "-n", "team-a", "-p", r#"{"data":{"c":"3"}}"#],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_jsonpath(
        &kubeconfig,
        &["configmap", "settings", "-n", "team-a"],
        "{.metadata.annotations.demo\\.wasmvisor\\.dev/keys}",
        "3",
    );

    second.signal("INT");
    let status = second.wait_exit();
    assert!(status.success(), "second up after Ctrl-C: {status}\n{}", second.output());
}

/// `up --no-host` runs the Supervisor side and writes `DIR/host.toml`; the
/// host then runs apart, as `wasmvisor run --config DIR/host.toml`, with
/// the bundled plugins, and stops on its own Ctrl-C while `up` goes on.
#[test]
fn up_without_its_host_leaves_it_to_run_with_the_config_it_wrote() {
    let data = tempfile::tempdir().unwrap();
    let (mut up, kubeconfig) = up_with(data.path(), &["--no-host"]);
    let host_toml = data.path().canonicalize().unwrap().join("host.toml");
    let said = up.wait_for_line("  host        ");
    assert!(said.contains(&format!("wasmvisor run --config {}", host_toml.display())), "{said}");
    assert!(!data.path().join("admin.json").exists(), "no host here, so no admin endpoint\n{}", up.output());

    let mut host = Process::spawn("wasmvisor run", command(&["run", "--config", path(&host_toml)]));
    host.wait_for_line("wasmvisor host running");
    apply(&kubeconfig, NAMESPACE);
    wait_jsonpath(&kubeconfig, &["configmap", "wasmvisor-config", "-n", "team-a"], "{.data.region}", "eu");
    wait_serving(data.path(), "namespace-config");

    host.signal("INT");
    let status = host.wait_exit();
    assert!(status.success(), "run after Ctrl-C: {status}\n{}", host.output());
    let out = kubectl(&kubeconfig, &["get", "namespace", "team-a"], "");
    assert!(out.status.success(), "up serves on without the host: {}", text(&out.stderr));
    up.signal("INT");
    assert!(up.wait_exit().success(), "{}", up.output());
}

/// `wasmvisor apiserver` with the Widget CRD installed, and a host config for
/// `wasmvisor run` granting the widget plugin exactly its manifest.
struct WidgetCluster {
    /// Dropped (killed) before the directory goes.
    _apiserver: Process,
    /// Kept so the directory outlives the processes.
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    config: PathBuf,
    /// The host's data directory (its recordings).
    data_dir: PathBuf,
    plugin_dir: PathBuf,
}

impl WidgetCluster {
    fn start() -> WidgetCluster {
        let dir = tempfile::tempdir().unwrap();
        let api_dir = dir.path().join("apiserver");
        let mut apiserver = Process::spawn(
            "wasmvisor apiserver",
            command(&["apiserver", "--data-dir", path(&api_dir), "--listen", "127.0.0.1:0"]),
        );
        let kubeconfig = PathBuf::from(apiserver.wait_for_line("kubeconfig: ").trim());
        apply(&kubeconfig, WIDGET_CRD);
        wait_jsonpath(
            &kubeconfig,
            &["crd", "widgets.test.wasmvisor.dev"],
            "{.status.conditions[?(@.type==\"Established\")].status}",
            "True",
        );
        apply(&kubeconfig, "apiVersion: v1\nkind: Namespace\nmetadata: {name: widgets}\n");

        let plugin_dir = dir.path().join("plugins");
        std::fs::create_dir_all(&plugin_dir).unwrap();
        std::fs::write(plugin_dir.join(WIDGET.file), WIDGET.bytes).unwrap();
        let mut config = HostConfig::parse(&format!(
            "data-dir = {:?}\nplugin-dir = {:?}\n[controller]\nbackoff-base = \"50ms\"\nbackoff-max = \"1s\"",
            path(&dir.path().join("host")),
            path(&plugin_dir),
        ))
        .unwrap();
        config.clusters.insert(
            "default".into(),
            ClusterConfig {
                source: ClusterSource::Kubeconfig { kubeconfig: kubeconfig.clone(), context: None },
            },
        );
        let manifest = Manifest::from_component(WIDGET.bytes).unwrap();
        config.plugins.insert(manifest.name.clone(), Grant::declared(&manifest));
        let config_path = dir.path().join("host.toml");
        std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
        let data_dir = dir.path().join("host");
        WidgetCluster {
            _dir: dir,
            _apiserver: apiserver,
            kubeconfig,
            config: config_path,
            data_dir,
            plugin_dir,
        }
    }

    /// `wasmvisor run --config FILE`, once the host runs.
    fn run(&self) -> Process {
        let mut run = Process::spawn("wasmvisor run", command(&["run", "--config", path(&self.config)]));
        run.wait_for_line("wasmvisor host running");
        run
    }

    fn create_widget(&self, name: &str, spec: &str) {
        apply(
            &self.kubeconfig,
            &format!(
                "apiVersion: test.wasmvisor.dev/v1\nkind: Widget\nmetadata: {{name: {name}, namespace: widgets}}\nspec: {spec}\n"
            ),
        );
    }

    /// `phase observedGeneration generation` of Widget `name`.
    fn widget_state(&self, name: &str) -> Option<String> {
        jsonpath(
            &self.kubeconfig,
            &["widget", name, "-n", "widgets"],
            "{.status.phase} {.status.observedGeneration} {.metadata.generation}",
        )
    }

    /// Waits until the host has put its finalizer on Widget `name`: it adds
    /// it right before the first reconcile, so that reconcile is under way.
    fn wait_reconciling(&self, name: &str) {
        wait_jsonpath(
            &self.kubeconfig,
            &["widget", name, "-n", "widgets"],
            "{.metadata.finalizers}",
            r#"["wasmvisor.dev/widget"]"#,
        );
    }
}

/// A shadow from the command line: placed beside the live widget plugin of
/// `wasmvisor run`, reported while it follows, promoted through hot
/// reload, and then gone.
#[test]
fn a_shadow_is_reported_then_promoted_and_gone_from_the_command_line() {
    let cluster = WidgetCluster::start();
    let _host = cluster.run();
    cluster.create_widget("shadowed", "{}");
    let candidate = section::embed(
        WIDGET.bytes,
        &section::extract(WIDGET.bytes).unwrap().replace("version = \"1.0.0\"", "version = \"1.0.1\""),
    )
    .unwrap();
    std::fs::write(cluster.plugin_dir.join(".staged"), candidate).unwrap();
    std::fs::rename(cluster.plugin_dir.join(".staged"), cluster.plugin_dir.join("widget.shadow.wasm"))
        .unwrap();
    let (data_dir, plugin_dir) = (path(&cluster.data_dir), path(&cluster.plugin_dir));
    let shadow = |verb: &str, json: bool| {
        let mut args = vec!["shadow", verb, "widget", "--data-dir", data_dir, "--plugin-dir", plugin_dir];
        if json {
            args.extend(["-o", "json"]);
        }
        wasmvisor(&args)
    };
    // Each spec change is a live reconcile; once the shadow is placed it follows them.
    let mut generation = 0;
    eventually("the shadow to follow a live reconcile", DEADLINE, |last| {
        generation += 1;
        let patch = format!("{{\"spec\":{{\"requeueMs\":{generation}}}}}");
        kubectl(
            &cluster.kubeconfig,
            &["patch", "widget", "shadowed", "-n", "widgets", "--type", "merge", "-p", &patch],
            "",
        );
        let out = shadow("report", true);
        *last = format!("{}{}", text(&out.stdout), text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (report["same"].as_u64()? >= 1).then_some(())
    });
    let out = shadow("report", false);
    let report = text(&out.stdout);
    assert!(report.contains("shadow widget@1.0.1") && report.contains("beside the live widget"), "{report}");
    assert!(report.contains(" same, 0 different"), "the same code did the same: {report}");

    let out = shadow("promote", false);
    assert!(out.status.success(), "promote: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("promoted widget@1.0.1"), "{}", text(&out.stdout));
    eventually("1.0.1 to serve as the live widget", DEADLINE, |last| {
        let out = wasmvisor(&["plugin", "list", "--data-dir", data_dir]);
        *last = text(&out.stdout);
        last.lines()
            .any(|l| l.starts_with("widget ") && l.contains("1.0.1") && l.ends_with("serving  -"))
            .then_some(())
    });
    assert!(!cluster.plugin_dir.join("widget.shadow.wasm").exists(), "the shadow file became the live one");
    let out = shadow("drop", false);
    assert!(!out.status.success(), "nothing left to drop");
    assert!(text(&out.stderr).contains("no shadow of \"widget\""), "{}", text(&out.stderr));
}

/// `Ready G G`: reconciled at the generation it is at.
fn reconciled(state: Option<&str>) -> bool {
    let Some(state) = state else { return false };
    let fields: Vec<&str> = state.split(' ').collect();
    matches!(fields.as_slice(), ["Ready", observed, generation] if observed == generation)
}

#[test]
fn run_killed_mid_reconcile_reconciles_everything_after_restart() {
    let cluster = WidgetCluster::start();
    let mut host = cluster.run();
    cluster.create_widget("slow", "{spinMs: 3000}");
    cluster.wait_reconciling("slow");
    host.kill();
    let state = cluster.widget_state("slow");
    assert!(
        !reconciled(state.as_deref()),
        "precondition: the reconcile should still have been running at kill -9, but slow is {state:?}"
    );
    cluster.create_widget("while-down", "{}");

    let _host = cluster.run();
    for name in ["slow", "while-down"] {
        eventually(&format!("{name} to be reconciled after the restart"), DEADLINE, |last| {
            let state = cluster.widget_state(name);
            *last = format!("{state:?}");
            reconciled(state.as_deref()).then_some(())
        });
    }
}

#[test]
fn run_finishes_the_reconcile_in_flight_on_sigterm() {
    let cluster = WidgetCluster::start();
    let mut host = cluster.run();
    // `trace` records the call's start and end, so the test can tell that
    // SIGTERM came while it ran without relying on how long anything took.
    cluster.create_widget("inflight", "{spinMs: 3000, trace: true}");
    cluster.wait_reconciling("inflight");
    let signalled = wall_clock_ns();
    host.signal("TERM");
    let status = host.wait_exit();
    assert!(status.success(), "run after SIGTERM: {status}\n{}", host.output());
    let after = cluster.widget_state("inflight");
    assert!(
        reconciled(after.as_deref()),
        "the reconcile in flight was not finished: {after:?}\n{}",
        host.output()
    );
    assert!(host.output().contains("finishing reconciles in flight"), "{}", host.output());
    let calls = jsonpath(
        &cluster.kubeconfig,
        &["configmap", "-n", "widgets", "-l", "test.wasmvisor.dev/widget=inflight"],
        "{range .items[*]}{.data.start} {.data.end}{\"\\n\"}{end}",
    )
    .expect("kubectl lists the trace records");
    let calls: Vec<(u128, u128)> = calls
        .lines()
        .map(|l| {
            let (start, end) = l.split_once(' ').expect("start end");
            (start.parse().unwrap(), end.parse().unwrap())
        })
        .collect();
    assert!(
        calls.iter().any(|&(start, end)| start < signalled && signalled < end),
        "no reconcile was in flight at SIGTERM ({signalled}): {calls:?}"
    );
}

/// `wasmvisor why widget/NAME -n widgets --data-dir DIR -o json`: the
/// outcomes of its recorded reconciles, newest first.
fn recorded_outcomes(cluster: &WidgetCluster, name: &str) -> Vec<String> {
    let object = format!("widget/{name}");
    let out =
        wasmvisor(&["why", &object, "-n", "widgets", "--data-dir", path(&cluster.data_dir), "-o", "json"]);
    assert!(out.status.success(), "why: {}", text(&out.stderr));
    let records: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    records.iter().map(|r| r["outcome"]["outcome"].as_str().unwrap_or_default().to_owned()).collect()
}

#[test]
fn a_host_killed_mid_reconcile_loses_only_the_reconcile_in_flight_from_its_recordings() {
    let cluster = WidgetCluster::start();
    let mut host = cluster.run();
    let names: Vec<String> = (0..8).map(|i| format!("w{i}")).collect();
    for name in &names {
        cluster.create_widget(name, "{}");
    }
    for name in &names {
        eventually(&format!("a recorded reconcile of {name}"), DEADLINE, |last| {
            let outcomes = recorded_outcomes(&cluster, name);
            *last = format!("{outcomes:?}");
            outcomes.iter().any(|o| o == "done").then_some(())
        });
    }
    // The same through the admin endpoint.
    let admin: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cluster.data_dir.join("admin.json")).unwrap()).unwrap();
    let out = wasmvisor(&[
        "why",
        "widget/w0",
        "-n",
        "widgets",
        "--admin",
        admin["url"].as_str().unwrap(),
        "--token",
        admin["token"].as_str().unwrap(),
    ]);
    assert!(out.status.success(), "why --admin: {}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("reconcile by widget@1.0.0") && shown.contains("outcome: done"), "{shown}");

    cluster.create_widget("slow", "{spinMs: 3000}");
    cluster.wait_reconciling("slow");
    host.kill();
    for name in &names {
        assert!(recorded_outcomes(&cluster, name).iter().any(|o| o == "done"), "{name}'s record was lost");
    }
    assert!(recorded_outcomes(&cluster, "slow").is_empty(), "the reconcile in flight cannot have a record");

    let _host = cluster.run();
    eventually("slow's reconcile after the restart to be recorded", DEADLINE, |last| {
        let outcomes = recorded_outcomes(&cluster, "slow");
        *last = format!("{outcomes:?}");
        outcomes.iter().any(|o| o == "done").then_some(())
    });
    let out = wasmvisor(&[
        "audit",
        "--data-dir",
        path(&cluster.data_dir),
        "--plugin",
        "widget",
        "--config",
        path(&cluster.config),
    ]);
    assert!(out.status.success(), "audit: {}", text(&out.stderr));
    let report = text(&out.stdout);
    for part in [
        "plugin widget (1.0.0)",
        "kube apply-status test.wasmvisor.dev/v1 Widget in widgets",
        "[plugins.widget",
        "kind: ClusterRole",
    ] {
        assert!(report.contains(part), "audit lacks {part:?}:\n{report}");
    }
}

/// Nanoseconds since the Unix epoch, the clock the widget plugin's trace uses.
fn wall_clock_ns() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

#[test]
fn bad_input_exits_non_zero_naming_the_file_key_or_address() {
    let dir = tempfile::tempdir().unwrap();
    let unknown = dir.path().join("unknown-key.toml");
    std::fs::write(
        &unknown,
        "data-dir = \"data\"\nsurprise-key = 1\n[clusters.default]\nsource = \"kubeconfig\"\nkubeconfig = \"kc\"\n",
    )
    .unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let up_dir = dir.path().join("up");
    let cases: [(Vec<&str>, Vec<&str>); 3] = [
        (vec!["run", "--config", "/nonexistent"], vec!["/nonexistent"]),
        (vec!["run", "--config", path(&unknown)], vec![path(&unknown), "surprise-key"]),
        (vec!["up", "--data-dir", path(&up_dir), "--listen", &address], vec![&address]),
    ];
    for (args, expected) in cases {
        let out = wasmvisor(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        for needle in expected {
            assert!(stderr.contains(needle), "{args:?}: missing {needle:?} in {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
