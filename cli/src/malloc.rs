//! glibc's allocator, told to keep two arenas instead of up to eight per core.
//!
//! glibc gives each thread that meets a busy arena one of its own, and gives
//! back to the kernel little of what is freed inside a non-main arena. The
//! host's threads (tokio workers, blocking-pool threads compiling and running
//! plugins, wasmtime's parallel compiler) each end up with one, so the memory
//! of every compile and every burst stays resident, spread across them. On the
//! chain bench (20 clusters, release profile) two arenas took the host's peak
//! RSS from 161 to 129 MiB and the rest of `up` from 122 to 96 MiB. A
//! `MALLOC_ARENA_MAX` in the environment is the user's choice and wins.

/// Arenas the process may use: enough for two cores' worth of threads to
/// allocate without waiting on one lock.
const ARENAS: i32 = 2;

/// Limits glibc's arenas to [`ARENAS`]; call before any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub(crate) fn limit_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    // SAFETY: `mallopt` only sets an allocator parameter; it is called at the
    // start of `main`, before this process has another thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Other allocators keep their own counsel.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn limit_arenas() {}
