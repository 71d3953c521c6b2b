//! `wasmvisor:plugin/log`: plugin log lines into the host's log, tagged with
//! plugin, version and object, capped per call and rate-limited per plugin
//! across calls ([`rate`]).

pub mod rate;

use std::fmt::Write as _;
use std::time::Instant;

use wasmtime::component::HasData;

use crate::capability::error::{HostCallError, convert};
use crate::recorder::record::LogLine;
use crate::runtime::bindings::wasmvisor::plugin::{log, types};
use crate::runtime::scope::{CallScope, truncate};

/// The log function's view of the store.
pub struct LogHost<'a> {
    pub(crate) scope: &'a mut CallScope,
}

/// [`HasData`] marker selecting [`LogHost`].
pub struct LogView;

impl HasData for LogView {
    type Data<'a> = LogHost<'a>;
}

impl types::Host for LogHost<'_> {
    fn convert_error(&mut self, err: HostCallError) -> wasmtime::Result<types::Error> {
        convert(err)
    }
}

impl log::Host for LogHost<'_> {
    async fn write(
        &mut self,
        level: log::Level,
        mut message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        let size = message.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if !self.scope.admit_log_line(size) {
            return Ok(());
        }
        let max = self.scope.limits.max_log_line_bytes;
        let mut cut = truncate(&mut message, max);
        let mut rendered = String::new();
        for (key, mut value) in fields {
            cut += truncate(&mut value, max);
            let _ = write!(rendered, "{}{key}={value:?}", if rendered.is_empty() { "" } else { " " });
        }
        cut += truncate(&mut rendered, max);
        self.scope.dropped.bytes += cut as u64;
        if let Some(tape) = self.scope.tape.as_deref_mut() {
            tape.logs.push(LogLine {
                level: level_name(level).to_owned(),
                message: message.clone(),
                fields: rendered.clone(),
            });
        }
        let plugin = self.scope.manifest.name.as_str();
        let verdict = self.scope.log_rate.admit(message.len() + rendered.len(), Instant::now());
        if let Some(dropped) = verdict.report {
            let labels = crate::metrics::PluginName { plugin: plugin.to_owned() };
            self.scope.metrics.log_lines_dropped.get_or_create(&labels).inc_by(dropped.lines);
            tracing::warn!(
                plugin,
                dropped_lines = dropped.lines,
                dropped_bytes = dropped.bytes,
                "plugin log output over the plugin's log rate was dropped"
            );
        }
        if !verdict.admitted {
            return Ok(());
        }
        let version = self.scope.manifest.version.as_str();
        let object = self.scope.object.as_str();
        macro_rules! emit {
            ($level:expr) => {
                tracing::event!(target: "wasmvisor::plugin", $level, plugin, version, object, fields = %rendered, "{message}")
            };
        }
        match level {
            log::Level::Trace => emit!(tracing::Level::TRACE),
            log::Level::Debug => emit!(tracing::Level::DEBUG),
            log::Level::Info => emit!(tracing::Level::INFO),
            log::Level::Warn => emit!(tracing::Level::WARN),
            log::Level::Error => emit!(tracing::Level::ERROR),
        }
        Ok(())
    }
}

fn level_name(level: log::Level) -> &'static str {
    match level {
        log::Level::Trace => "trace",
        log::Level::Debug => "debug",
        log::Level::Info => "info",
        log::Level::Warn => "warn",
        log::Level::Error => "error",
    }
}
