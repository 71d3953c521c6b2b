//! Turns at the guest CPUs: how many calls may run guest code at once past
//! their first epoch tick, host-wide and per plugin.
//!
//! Sits between the epoch clock and the guest: [`install`] gives a call's
//! store an epoch callback that runs every tick. A call's first tick is
//! free, so a short reconcile never waits. From then on, at each tick the
//! call gives its [`Slice`] back and queues for the next one (first come,
//! first served), so busy guests take turns: a plugin holds at most its
//! `cpu-share` slices and all plugins together at most the host's guest
//! CPUs, whatever their number of reconciles in flight. A kube or endpoint
//! call gives the slice back too ([`Turn::give_back`]): waiting on I/O costs
//! nobody's share. The callback also ends the call at its wall-clock
//! deadline, waiting included.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{Store, UpdateDeadline};

/// The CPUs guest code may occupy at once, shared by every plugin.
#[derive(Debug, Clone)]
pub(crate) struct GuestCpus(Arc<Semaphore>);

impl GuestCpus {
    /// `cpus` slices at once (at least one).
    pub(crate) fn new(cpus: usize) -> Self {
        Self(Arc::new(Semaphore::new(cpus.max(1))))
    }
}

/// One plugin's share: its calls past their first tick, at once.
#[derive(Debug, Clone)]
pub(crate) struct PluginShare(Arc<Semaphore>);

impl PluginShare {
    /// `share` slices at once (at least one).
    pub(crate) fn new(share: u32) -> Self {
        Self(Arc::new(Semaphore::new(usize::try_from(share).unwrap_or(usize::MAX).max(1))))
    }

    /// Slices of this share in use now.
    #[cfg(test)]
    fn in_use(&self, share: usize) -> usize {
        share - self.0.available_permits()
    }
}

/// The right to run guest code for one tick: a permit of the plugin's share
/// and one of the host's guest CPUs.
#[derive(Debug)]
pub(crate) struct Slice {
    _plugin: OwnedSemaphorePermit,
    _host: OwnedSemaphorePermit,
}

impl Slice {
    /// Waits for the plugin's share first, then for a host CPU, so a plugin
    /// over its share never holds a host CPU while it waits. `None` only if
    /// a semaphore was closed, which this module never does.
    async fn acquire(host: GuestCpus, plugin: PluginShare) -> Option<Self> {
        let plugin = plugin.0.acquire_owned().await.ok()?;
        let host = host.0.acquire_owned().await.ok()?;
        Some(Self { _plugin: plugin, _host: host })
    }
}

/// The slice one call holds, if any; shared by its epoch callback (which
/// takes turns) and its host calls (which give the turn back).
#[derive(Debug, Clone, Default)]
pub(crate) struct Turn(Arc<Mutex<Option<Slice>>>);

impl Turn {
    /// Gives the slice back, if held: the call waits on I/O or has ended its
    /// tick.
    pub(crate) fn give_back(&self) {
        let slice = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        drop(slice);
    }

    fn hold(&self, slice: Option<Slice>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = slice;
    }

    /// Whether a slice is held now.
    #[cfg(test)]
    fn holding(&self) -> bool {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).is_some()
    }
}

/// Makes `store` take turns at the guest CPUs and end at `deadline`.
pub(crate) fn install<T>(
    store: &mut Store<T>,
    deadline: Instant,
    turn: Turn,
    host: GuestCpus,
    plugin: PluginShare,
) {
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_store| Ok(next_tick(deadline, &turn, &host, &plugin)));
}

/// What a call does at the end of a tick: stop at its deadline, otherwise
/// give its slice back and queue for the next.
fn next_tick(deadline: Instant, turn: &Turn, host: &GuestCpus, plugin: &PluginShare) -> UpdateDeadline {
    turn.give_back();
    if Instant::now() >= deadline {
        return UpdateDeadline::Interrupt;
    }
    let (turn, host, plugin) = (turn.clone(), host.clone(), plugin.clone());
    UpdateDeadline::YieldCustom(
        1,
        Box::pin(async move {
            let slice = Slice::acquire(host, plugin).await;
            turn.hold(slice);
        }),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::FutureExt as _;

    use super::*;

    /// Runs the future `next_tick` returns to completion if it is ready now;
    /// `false` if it waits for a turn.
    fn take_turn(update: UpdateDeadline) -> bool {
        match update {
            UpdateDeadline::YieldCustom(1, future) => future.now_or_never().is_some(),
            UpdateDeadline::Interrupt => panic!("interrupted before the deadline"),
            _ => panic!("expected a yield for one tick"),
        }
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[test]
    fn a_plugin_holds_at_most_its_share() {
        let host = GuestCpus::new(4);
        let plugin = PluginShare::new(1);
        let (first, second) = (Turn::default(), Turn::default());
        assert!(take_turn(next_tick(later(), &first, &host, &plugin)));
        assert!(first.holding());
        assert!(!take_turn(next_tick(later(), &second, &host, &plugin)), "over the share, it waits");
        assert_eq!(plugin.in_use(1), 1);
        // The first gives its slice back at its next tick (or host call).
        first.give_back();
        assert_eq!(plugin.in_use(1), 0);
        assert!(take_turn(next_tick(later(), &second, &host, &plugin)));
    }

    #[test]
    fn plugins_together_hold_at_most_the_host_cpus() {
        let host = GuestCpus::new(1);
        let (a, b) = (PluginShare::new(1), PluginShare::new(1));
        let (ta, tb) = (Turn::default(), Turn::default());
        assert!(take_turn(next_tick(later(), &ta, &host, &a)));
        assert!(!take_turn(next_tick(later(), &tb, &host, &b)), "the only guest CPU is taken");
        ta.give_back();
        assert!(take_turn(next_tick(later(), &tb, &host, &b)));
    }

    #[test]
    fn each_tick_gives_the_slice_back_before_queueing() {
        let host = GuestCpus::new(1);
        let plugin = PluginShare::new(1);
        let turn = Turn::default();
        for _ in 0..3 {
            assert!(take_turn(next_tick(later(), &turn, &host, &plugin)), "a lone guest never waits");
        }
    }

    #[test]
    fn the_deadline_interrupts_and_frees_the_slice() {
        let host = GuestCpus::new(1);
        let plugin = PluginShare::new(1);
        let turn = Turn::default();
        assert!(take_turn(next_tick(later(), &turn, &host, &plugin)));
        let past = Instant::now();
        assert!(matches!(next_tick(past, &turn, &host, &plugin), UpdateDeadline::Interrupt));
        assert!(!turn.holding());
        assert_eq!(plugin.in_use(1), 0);
    }
}
