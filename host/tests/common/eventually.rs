//! Waiting for what another task or process does: the one `eventually` of
//! the host crate's test binaries (each includes this file).

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

/// How long a test waits unless it says otherwise.
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

/// What one look reports: the value waited for, or the state seen instead.
pub(crate) trait Look {
    /// What the wait gives back.
    type Value;
    /// The value, or what was seen instead of it.
    fn value(self) -> Result<Self::Value, String>;
}

impl<T> Look for Option<T> {
    type Value = T;
    fn value(self) -> Result<T, String> {
        self.ok_or_else(|| "nothing yet".to_owned())
    }
}

impl<T, E: Display> Look for Result<T, E> {
    type Value = T;
    fn value(self) -> Result<T, String> {
        self.map_err(|seen| seen.to_string())
    }
}

/// Looks every 20 ms until `look` reports a value (`Some`, or `Ok`); after
/// `deadline` fails naming `what` and the last state seen (an `Err`'s text).
pub(crate) async fn within<L: Look, F: Future<Output = L>>(
    what: &str,
    deadline: Duration,
    mut look: impl FnMut() -> F,
) -> L::Value {
    let start = tokio::time::Instant::now();
    loop {
        match look().await.value() {
            Ok(value) => return value,
            Err(seen) if start.elapsed() >= deadline => {
                panic!("timed out after {deadline:?} waiting for {what}; last seen: {seen}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// [`within`] the default [`DEADLINE`].
pub(crate) async fn eventually<L: Look, F: Future<Output = L>>(
    what: &str,
    look: impl FnMut() -> F,
) -> L::Value {
    within(what, DEADLINE, look).await
}
