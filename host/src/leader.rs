//! Leader election through a `coordination.k8s.io/v1` Lease, the way
//! client-go's `leaderelection` does it, with kube-rs.
//!
//! In: a client, a [`LeaderConfig`]. Out: a [`Leader`] whose
//! [`Leader::watch`] channel says whether this replica leads right now.
//! Invariant: at most one replica believes it leads at a time, provided the
//! clocks of the replicas run at about the same *rate* (no agreement on the
//! wall time is needed) and `renew_deadline < lease_duration`.
//!
//! Every `retry_period` the elector reads the Lease and:
//! - creates it with itself as holder when it does not exist;
//! - takes it over (an update guarded by `resourceVersion`, so two
//!   candidates cannot both win) when it has no holder or the holder has not
//!   renewed for the lease's duration. "Not renewed" is judged by when *this*
//!   replica last saw the record change, measured on its own monotonic clock,
//!   never by comparing `renewTime` to its wall clock — so a candidate that
//!   just started waits one lease duration before it takes over a lease
//!   whose holder vanished, as in client-go;
//! - renews it (updates `renewTime`) when it holds it.
//!
//! A leader that has not renewed successfully for `renew_deadline` steps
//! down (the channel turns `false`) before anyone else may take over, which
//! is at `lease_duration`. [`Leader::step_down`] releases the Lease so a
//! standby takes over at its next retry; dropping the [`Leader`] just stops
//! renewing (like a crash), and a standby takes over once the lease expires.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tokio::time::Instant;

/// How to elect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease; replicas that compete share it.
    pub name: String,
    /// This replica's identity, unique among the replicas (e.g. the pod name).
    pub identity: String,
    /// How long a lease lasts without renewal before another replica may
    /// take it (written into the Lease, whole seconds, at least 1).
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal.
    pub renew_deadline: Duration,
    /// How often to try to acquire or renew.
    pub retry_period: Duration,
}

impl LeaderConfig {
    /// client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry.
    pub fn new(namespace: &str, name: &str, identity: &str) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    fn validate(&self) -> Result<(), LeaderError> {
        let bad = |reason: &str| Err(LeaderError::Config { reason: reason.to_owned() });
        if self.identity.is_empty() {
            return bad("identity must not be empty");
        }
        if self.lease_duration < Duration::from_secs(1) {
            return bad("lease duration must be at least 1s");
        }
        if self.renew_deadline >= self.lease_duration {
            return bad("renew deadline must be shorter than the lease duration");
        }
        if self.retry_period.is_zero() || self.retry_period >= self.renew_deadline {
            return bad("retry period must be positive and shorter than the renew deadline");
        }
        Ok(())
    }

    fn lease_seconds(&self) -> i32 {
        i32::try_from(self.lease_duration.as_secs_f64().ceil() as u64).unwrap_or(i32::MAX)
    }
}

/// Why an elector could not start or one attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The timings cannot keep the invariant.
    #[error("invalid leader election settings: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The API call of an attempt failed (retried at the next period).
    #[error("lease {lease}: {error}")]
    Api {
        /// `namespace/name`.
        lease: String,
        /// The kube error.
        error: kube::Error,
    },
    /// The attempt took longer than the renew deadline.
    #[error("lease {lease}: no answer within the renew deadline")]
    Timeout {
        /// `namespace/name`.
        lease: String,
    },
}

/// A running elector. Dropping it stops renewing without releasing.
pub struct Leader {
    is_leader: watch::Receiver<bool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Leader {
    /// Starts electing in a background task.
    pub fn start(client: kube::Client, config: LeaderConfig) -> Result<Self, LeaderError> {
        config.validate()?;
        let (tx, rx) = watch::channel(false);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let elector = Elector {
            api: Api::namespaced(client, &config.namespace),
            lease: format!("{}/{}", config.namespace, config.name),
            config,
            observed: None,
        };
        let task = tokio::spawn(elector.run(tx, stop_rx));
        Ok(Self { is_leader: rx, stop: Some(stop_tx), task })
    }

    /// Whether this replica leads now.
    pub fn is_leader(&self) -> bool {
        *self.is_leader.borrow()
    }

    /// A channel that changes whenever leadership does.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.is_leader.clone()
    }

    /// Stops electing and, if leading, releases the Lease so a standby
    /// takes over at once instead of after the lease duration.
    pub async fn step_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What this replica last saw of the Lease and when (monotonic).
#[derive(Debug, Clone)]
struct Observed {
    holder: Option<String>,
    renew: Option<MicroTime>,
    duration: Duration,
    at: Instant,
}

struct Elector {
    api: Api<Lease>,
    lease: String,
    config: LeaderConfig,
    observed: Option<Observed>,
}

impl Elector {
    async fn run(mut self, tx: watch::Sender<bool>, mut stop: tokio::sync::oneshot::Receiver<()>) {
        let mut last_renew: Option<Instant> = None;
        let mut ticker = tokio::time::interval(self.config.retry_period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = ticker.tick() => {}
            }
            let attempt = tokio::time::timeout(self.config.renew_deadline, self.try_acquire_or_renew()).await;
            let result = attempt.unwrap_or_else(|_| Err(LeaderError::Timeout { lease: self.lease.clone() }));
            let leading = match result {
                Ok(true) => {
                    last_renew = Some(Instant::now());
                    true
                }
                Ok(false) => false,
                Err(error) => {
                    let within = last_renew.is_some_and(|t| t.elapsed() < self.config.renew_deadline);
                    if *tx.borrow() {
                        tracing::warn!(lease = self.lease, %error, still_leading = within, "cannot renew the lease");
                    } else {
                        tracing::debug!(lease = self.lease, %error, "cannot acquire the lease");
                    }
                    *tx.borrow() && within
                }
            };
            if leading != *tx.borrow() {
                tracing::info!(
                    lease = self.lease,
                    identity = self.config.identity,
                    leading,
                    "leadership changed"
                );
                tx.send_replace(leading);
            }
        }
        if tx.send_replace(false) {
            self.release().await;
        }
    }

    /// One attempt: `Ok(true)` if this replica holds the lease afterwards.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, LeaderError> {
        let name = self.lease.clone();
        let err = move |error| LeaderError::Api { lease: name.clone(), error };
        let now = MicroTime(Timestamp::now());
        let Some(mut lease) = self.api.get_opt(&self.config.name).await.map_err(&err)? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(self.config.name.clone()), ..ObjectMeta::default() },
                spec: Some(self.spec(now.clone(), now, 0)),
            };
            self.api.create(&PostParams::default(), &lease).await.map_err(&err)?;
            return Ok(true);
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let duration = spec
            .lease_duration_seconds
            .map_or(self.config.lease_duration, |s| Duration::from_secs(s.max(0) as u64));
        let changed = self
            .observed
            .as_ref()
            .is_none_or(|o| o.holder != holder || o.renew != spec.renew_time || o.duration != duration);
        if changed {
            self.observed = Some(Observed {
                holder: holder.clone(),
                renew: spec.renew_time.clone(),
                duration,
                at: Instant::now(),
            });
        }
        let observed = self.observed.as_ref().expect("set above");
        let mine = holder.as_deref() == Some(self.config.identity.as_str());
        let expired = holder.is_none() || observed.at.elapsed() >= observed.duration;
        if !mine && !expired {
            return Ok(false);
        }
        let (acquired, transitions) = if mine {
            (spec.acquire_time.clone().unwrap_or_else(|| now.clone()), spec.lease_transitions.unwrap_or(0))
        } else {
            (now.clone(), spec.lease_transitions.unwrap_or(0) + 1)
        };
        lease.spec = Some(self.spec(acquired, now, transitions));
        // `replace` sends the resourceVersion we read: a concurrent writer
        // makes it fail with 409 and this attempt loses.
        let written =
            self.api.replace(&self.config.name, &PostParams::default(), &lease).await.map_err(&err)?;
        let spec = written.spec.unwrap_or_default();
        self.observed = Some(Observed {
            holder: spec.holder_identity,
            renew: spec.renew_time,
            duration: Duration::from_secs(spec.lease_duration_seconds.unwrap_or(1).max(0) as u64),
            at: Instant::now(),
        });
        Ok(true)
    }

    fn spec(&self, acquire: MicroTime, renew: MicroTime, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(self.config.lease_seconds()),
            acquire_time: Some(acquire),
            renew_time: Some(renew),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Clears the holder if it is still this replica, so a standby need
    /// not wait for the lease to expire.
    async fn release(&self) {
        let released = async {
            let Some(mut lease) = self.api.get_opt(&self.config.name).await? else { return Ok(()) };
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
                return Ok(());
            }
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(MicroTime(Timestamp::now()));
            self.api.replace(&self.config.name, &PostParams::default(), &lease).await.map(|_| ())
        };
        match tokio::time::timeout(self.config.renew_deadline, released).await {
            Ok(Ok(())) => tracing::info!(lease = self.lease, "lease released"),
            Ok(Err(error)) => tracing::warn!(lease = self.lease, %error, "cannot release the lease"),
            Err(_) => tracing::warn!(lease = self.lease, "cannot release the lease: timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_that_break_the_invariant_are_refused() {
        let mut config = LeaderConfig::new("default", "host", "a");
        config.validate().unwrap();
        config.renew_deadline = config.lease_duration;
        assert!(config.validate().unwrap_err().to_string().contains("renew deadline"));
        let mut config = LeaderConfig::new("default", "host", "a");
        config.retry_period = Duration::from_secs(10);
        assert!(config.validate().unwrap_err().to_string().contains("retry period"));
        let config = LeaderConfig { identity: String::new(), ..LeaderConfig::new("default", "host", "a") };
        assert!(config.validate().is_err());
    }

    #[test]
    fn lease_seconds_round_up() {
        let config = LeaderConfig {
            lease_duration: Duration::from_millis(1500),
            ..LeaderConfig::new("default", "host", "a")
        };
        assert_eq!(config.lease_seconds(), 2);
    }
}
