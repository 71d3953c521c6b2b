//! `wasmvisor replay NEW.wasm [--plugin NAME] [--since DURATION | --record
//! ID...] [--data-dir DIR] [--config FILE] [-o json]`: a candidate version
//! of a plugin run offline on the flight recorder's reconciles of it; per
//! reconcile, same / different / diverged, and a summary. The exit status
//! is for a plugin's CI: 0 when every reconcile is the same, 1 on any
//! difference or divergence, 2 when the replay could not run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use wasmvisor_host::manifest::Manifest;
use wasmvisor_host::recorder::STORE_FILE;
use wasmvisor_host::recorder::store::Reader;
use wasmvisor_host::replay::Replayer;
use wasmvisor_host::replay::verdict::{Judgement, Verdict};
use wasmvisor_host::{Grant, Grants};

use crate::window::{humantime_duration, since_ms};

/// Arguments of `replay`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The candidate component.
    #[arg(value_name = "NEW.wasm")]
    candidate: PathBuf,
    /// Whose recordings to replay (default: the candidate's name).
    #[arg(long)]
    plugin: Option<String>,
    /// Only reconciles this recent (`1h`, `7d`); default: all recorded.
    #[arg(long, value_parser = humantime_duration, conflicts_with = "record")]
    since: Option<Duration>,
    /// Only these records (ids as `why -o json` shows them).
    #[arg(long, value_name = "ID", num_args = 1..)]
    record: Vec<i64>,
    /// The host's data directory.
    #[arg(long, env = "WASMVISOR_DATA_DIR", value_name = "DIR")]
    data_dir: PathBuf,
    /// The host config, for the plugin's grant; without it the candidate
    /// may ask for what the newest recorded version declared, no more.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output: `text` or `json`.
    #[arg(short = 'o', long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

/// Runs `replay` and turns its result into the exit status.
pub(crate) fn exit(args: Args) -> ExitCode {
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether every replayed reconcile was the same.
fn run(args: Args) -> anyhow::Result<bool> {
    let bytes =
        std::fs::read(&args.candidate).with_context(|| format!("reading {}", args.candidate.display()))?;
    let manifest = Manifest::from_component(&bytes)
        .with_context(|| format!("{} is not a wasmvisor plugin", args.candidate.display()))?;
    let plugin = args.plugin.clone().unwrap_or_else(|| manifest.name.clone());
    let reader = Reader::open(&args.data_dir.join(STORE_FILE))?;
    let records = if args.record.is_empty() {
        reader.since(Some(&plugin), since_ms(args.since))?
    } else {
        let records = reader.records(&args.record)?;
        if let Some(other) = records.iter().find(|r| r.plugin.name != plugin) {
            anyhow::bail!("record {} is of plugin {:?}, not {plugin:?}", other.id, other.plugin.name);
        }
        records
    };
    let grants = grants(&args, &reader, &plugin, &manifest)?;
    let cache = tempfile::tempdir().context("creating a scratch compile cache")?;
    let cache_dir = cap_std::fs::Dir::open_ambient_dir(cache.path(), cap_std::ambient_authority())
        .context("opening the scratch compile cache")?;
    let replayer = Replayer::new(cache_dir, grants).context("starting the wasm engine")?;
    let candidate =
        replayer.load(&bytes).with_context(|| format!("{} was refused", args.candidate.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let started = Instant::now();
    let verdicts = runtime.block_on(replayer.replay(&candidate, &records));
    let took = started.elapsed();
    if args.output == "json" {
        println!("{}", serde_json::to_string_pretty(&verdicts)?);
    } else {
        let candidate = format!("{} ({})", manifest.id(), candidate.digest.to_prefixed());
        print!("{}", render(&verdicts, &candidate, &plugin, took));
    }
    Ok(verdicts.iter().all(|v| v.judgement == Judgement::Same))
}

/// The grant the candidate is loaded against: the host config's, or what
/// the newest recorded version of the plugin declared.
fn grants(args: &Args, reader: &Reader, plugin: &str, manifest: &Manifest) -> anyhow::Result<Grants> {
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return Grants::from_host_config(&text)
            .with_context(|| format!("{} is not a valid host config", path.display()));
    }
    let recorded = reader.manifests()?.into_iter().rev().find(|(id, _)| id.name == plugin);
    let Some((_, recorded)) = recorded else {
        anyhow::bail!(
            "{} holds no recordings of plugin {plugin:?} (the candidate is {})",
            args.data_dir.display(),
            manifest.id()
        );
    };
    let grant = Grant { capabilities: recorded.capabilities, source: None, limits: Grant::default_ceiling() };
    Ok(Grants { plugins: [(manifest.name.clone(), grant)].into(), trust_manifests: false })
}

/// One line per reconcile, the differences under it, and a summary.
fn render(verdicts: &[Verdict], candidate: &str, plugin: &str, took: Duration) -> String {
    let width = verdicts.iter().map(|v| v.object.len()).max().unwrap_or(6).max(6);
    let mut out =
        format!("{:>7}  {:<9} {:<width$}  {:<20} VERDICT\n", "RECORD", "EXPORT", "OBJECT", "RECORDED");
    for v in verdicts {
        out.push_str(&format!(
            "{:>7}  {:<9} {:<width$}  {:<20} {}\n",
            v.record,
            v.export,
            v.object,
            v.recorded,
            v.word()
        ));
        let detail: Vec<String> = match &v.judgement {
            Judgement::Same => Vec::new(),
            Judgement::Different { writes, outcome } => {
                writes.iter().cloned().chain(outcome.iter().map(|o| format!("outcome: {o}"))).collect()
            }
            Judgement::Diverged { reads } => reads.iter().map(|r| format!("read {r}")).collect(),
        };
        for line in detail {
            out.push_str(&format!("         {line}\n"));
        }
    }
    let count = |word: &str| verdicts.iter().filter(|v| v.word() == word).count();
    let rate = verdicts.len() as f64 / took.as_secs_f64().max(1e-9);
    out.push_str(&format!(
        "\ncandidate {candidate} on {} reconciles of {plugin}: {} same, {} different, {} diverged ({:.2} s, {rate:.0} reconciles/s)\n",
        verdicts.len(),
        count("same"),
        count("different"),
        count("diverged"),
        took.as_secs_f64(),
    ));
    out
}
