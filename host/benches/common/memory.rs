//! The bench process's own memory, as `/proc/self/status` reports it (each
//! bench includes this file).

/// `field` of this process (`"VmRSS:"` now, `"VmHWM:"` at its peak), in
/// KiB; 0 where `/proc` does not say.
pub(crate) fn kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
