//! Guest code runs on threads of its own, never on the async runtime's
//! workers.
//!
//! The dispatcher hands each call to [`run`]: the call's future is polled on
//! a thread of tokio's blocking pool (`Handle::block_on`), while its I/O and
//! timers stay registered with the host's runtime. A guest that loops keeps
//! only its own thread busy (and at most its [`cpu_share`] of the CPUs), so
//! the admin endpoint, other plugins' controllers and, in `wasmvisor up`,
//! the embedded API server keep their workers. The caller's tracing span and
//! subscriber go along; tokio task-locals do not.
//!
//! [`cpu_share`]: super::cpu_share

use std::future::Future;
use std::pin::pin;

use futures::channel::oneshot;
use futures::future::{Either, select};
use tracing::Instrument as _;

/// Runs `call` to completion on a blocking-pool thread and returns its
/// output. Dropping the returned future drops `call` on its thread (a
/// cancelled reconcile stops its guest). `None` if the runtime is shutting
/// down and the call never ran.
pub(crate) async fn run<F>(call: F) -> Option<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    // The caller's tracing context goes along: host-call spans stay
    // children of the `reconcile` span, under the caller's subscriber.
    let span = tracing::Span::current();
    // "No subscriber" is not carried over: as a thread's default it would
    // decide, for every callsite first met on that thread, that nobody
    // listens, and tracing caches that answer for the whole process.
    let dispatch = tracing::dispatcher::get_default(|d| {
        (!d.is::<tracing::subscriber::NoSubscriber>()).then(|| d.clone())
    });
    // Held until the call returns: its drop is the cancellation signal.
    let (_cancel, cancelled) = oneshot::channel::<()>();
    let thread = tokio::task::spawn_blocking(move || {
        let run = || {
            handle.block_on(
                async move {
                    match select(pin!(call), cancelled).await {
                        Either::Left((output, _)) => Some(output),
                        Either::Right(_) => None,
                    }
                }
                .instrument(span),
            )
        };
        match &dispatch {
            Some(dispatch) => tracing::dispatcher::with_default(dispatch, run),
            None => run(),
        }
    });
    match thread.await {
        Ok(output) => output,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_cancelled) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_off_the_calling_thread_with_the_runtime_at_hand() {
        let caller = std::thread::current().id();
        let (thread, slept) = run(async {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            (std::thread::current().id(), true)
        })
        .await
        .unwrap();
        assert_ne!(thread, caller);
        assert!(slept, "timers of the host runtime work on the guest thread");
    }

    #[tokio::test]
    async fn dropping_the_call_cancels_it() {
        let (started_tx, started) = oneshot::channel::<()>();
        let (dropped_tx, dropped) = oneshot::channel::<()>();
        let call = run(async move {
            struct Signal(Option<oneshot::Sender<()>>);
            impl Drop for Signal {
                fn drop(&mut self) {
                    if let Some(tx) = self.0.take() {
                        let _sent = tx.send(());
                    }
                }
            }
            let _signal = Signal(Some(dropped_tx));
            let _sent = started_tx.send(());
            std::future::pending::<()>().await;
        });
        let mut call = Box::pin(call);
        match select(call.as_mut(), started).await {
            Either::Right((Ok(()), _)) => {}
            _ => panic!("the call did not start"),
        }
        drop(call);
        let dropped = tokio::time::timeout(std::time::Duration::from_secs(10), dropped).await;
        assert!(matches!(dropped, Ok(Ok(()))), "the guest's future was dropped on its thread");
    }
}
