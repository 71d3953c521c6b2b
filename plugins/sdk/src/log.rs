//! Structured logging into the host's log (`wasmvisor:plugin/log`).
//!
//! The host tags each line with plugin, version and object, and caps lines
//! per call; keep logs for what an operator needs to see.

use crate::bindings::wasmvisor::plugin::log::{Level, write};

fn emit(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    write(level, message, &fields);
}

/// Debug line.
pub fn debug(message: &str, fields: &[(&str, &str)]) {
    emit(Level::Debug, message, fields);
}

/// Info line.
pub fn info(message: &str, fields: &[(&str, &str)]) {
    emit(Level::Info, message, fields);
}

/// Warning line.
pub fn warn(message: &str, fields: &[(&str, &str)]) {
    emit(Level::Warn, message, fields);
}

/// Error line.
pub fn error(message: &str, fields: &[(&str, &str)]) {
    emit(Level::Error, message, fields);
}
