//! Retries with exponential backoff and full jitter, honouring `Retry-After`.
//!
//! Sits between a product client and the [`Transport`](super::http::Transport):
//! the product client says whether a request is idempotent and classifies
//! each answer; this module decides whether and when to try again. A request
//! that may have changed something is retried only when it certainly did
//! not reach the server (connection refused) or was refused unprocessed (429).

use std::time::Duration;

use std::future::Future;

use hyper::StatusCode;

use super::http::{RawResponse, SendError};
use super::metrics::RetryCounter;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `retries + 1` attempts at most).
    pub retries: u32,
    /// Backoff before the first retry; doubles each time (before jitter).
    pub base_delay: Duration,
    /// Longest wait between two attempts, also for a `Retry-After`.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// `retries` retries starting at 100 ms, never waiting more than 10 s.
    pub fn new(retries: u32) -> Self {
        Self { retries, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(10) }
    }

    /// The wait before retry number `retry` (0-based): `Retry-After` when the
    /// server sent one, else a uniformly random share of the exponential
    /// backoff (full jitter), both capped at `max_delay`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_delay);
        }
        let exp = self.base_delay.saturating_mul(1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX));
        let cap = exp.min(self.max_delay);
        // Full jitter: anywhere in [cap/2, cap], so retries of many callers spread out
        // without ever retrying at once.
        let half = cap / 2;
        half + Duration::from_nanos(fastrand::u64(0..=half.as_nanos().min(u128::from(u64::MAX)) as u64))
    }
}

/// Whether an answer (or its absence) is worth another attempt.
pub fn should_retry(idempotent: bool, outcome: Result<StatusCode, &SendError>) -> bool {
    match outcome {
        Ok(StatusCode::TOO_MANY_REQUESTS) => true,
        Ok(status) => idempotent && status.is_server_error(),
        Err(SendError::Connect(_)) => true,
        Err(SendError::Connection(_) | SendError::Timeout(_)) => idempotent,
        Err(SendError::Request(_)) => false,
    }
}

/// What a client retries with: its policy, and where each retry is counted.
#[derive(Debug, Clone)]
pub struct Retrier {
    /// How often and how patiently.
    pub policy: RetryPolicy,
    /// Where each retry is counted, by reason.
    pub counted: RetryCounter,
}

impl Retrier {
    /// Runs `attempt` until it gets an answer not worth retrying or the
    /// policy is spent, sleeping between attempts and counting each retry.
    /// Returns the last answer (a final 429 or 5xx included: the caller
    /// classifies it) or the last transport error.
    pub async fn run<F, Fut>(
        &self,
        idempotent: bool,
        what: &str,
        mut attempt: F,
    ) -> Result<RawResponse, SendError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<RawResponse, SendError>>,
    {
        let policy = &self.policy;
        let mut retry = 0;
        loop {
            let result = attempt().await;
            let outcome = result.as_ref().map(|r| r.status);
            if retry >= policy.retries || !should_retry(idempotent, outcome) {
                return result;
            }
            let delay = policy.delay(retry, result.as_ref().ok().and_then(|r| r.retry_after));
            match &result {
                Ok(r) => {
                    tracing::debug!(request = what, status = r.status.as_u16(), retry, ?delay, "retrying")
                }
                Err(e) => tracing::debug!(request = what, error = %e, retry, ?delay, "retrying"),
            }
            self.counted.count(&result);
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::endpoint::metrics::{EndpointMetrics, RetryLabels};

    #[test]
    fn retry_after_wins_and_is_capped() {
        let p = RetryPolicy::new(3);
        assert_eq!(p.delay(0, Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(p.delay(0, Some(Duration::from_secs(600))), Duration::from_secs(10));
        assert_eq!(p.delay(5, Some(Duration::ZERO)), Duration::ZERO);
    }

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let p = RetryPolicy::new(20);
        for retry in 0..20 {
            let cap = (Duration::from_millis(100) * 2u32.pow(retry.min(16))).min(Duration::from_secs(10));
            for _ in 0..50 {
                let d = p.delay(retry, None);
                assert!(d >= cap / 2 && d <= cap, "retry {retry}: {d:?} outside [{:?}, {cap:?}]", cap / 2);
            }
        }
    }

    fn answer(status: u16) -> Result<RawResponse, SendError> {
        Ok(RawResponse {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: None,
            body: Default::default(),
        })
    }

    /// Retries counted in `metrics` for `nsx`, by reason.
    fn counted(metrics: &EndpointMetrics, reason: &str) -> u64 {
        metrics.retries.get_or_create(&RetryLabels { endpoint: "nsx", reason: reason.into() }).get()
    }

    #[tokio::test(start_paused = true)]
    async fn run_stops_at_success_and_at_the_budget_counting_each_retry() {
        let metrics = EndpointMetrics::default();
        let retrier = Retrier { policy: RetryPolicy::new(3), counted: metrics.retries_of("nsx") };
        let mut answers = vec![answer(200), answer(503), answer(429)];
        let mut calls = 0;
        let last = retrier
            .run(true, "t", || {
                calls += 1;
                std::future::ready(answers.pop().unwrap())
            })
            .await;
        assert_eq!((calls, last.unwrap().status), (3, StatusCode::OK));
        assert_eq!((counted(&metrics, "429"), counted(&metrics, "503")), (1, 1), "a retry after each");

        let mut calls = 0;
        let last = retrier
            .run(true, "t", || {
                calls += 1;
                std::future::ready(answer(503))
            })
            .await;
        assert_eq!((calls, last.unwrap().status), (4, StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(counted(&metrics, "503"), 4, "three more retries; the last answer is not retried");

        let mut calls = 0;
        let last = retrier
            .run(false, "t", || {
                calls += 1;
                std::future::ready(answer(503))
            })
            .await;
        assert_eq!((calls, last.unwrap().status), (1, StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(counted(&metrics, "503"), 4, "not retried, not counted");
    }

    #[test]
    fn what_is_retried() {
        let connect = SendError::Connect("refused".into());
        let dropped = SendError::Connection("closed".into());
        let cases = [
            // (idempotent, outcome, retried)
            (true, Ok(StatusCode::TOO_MANY_REQUESTS), true),
            (false, Ok(StatusCode::TOO_MANY_REQUESTS), true),
            (true, Ok(StatusCode::SERVICE_UNAVAILABLE), true),
            (false, Ok(StatusCode::SERVICE_UNAVAILABLE), false),
            (true, Ok(StatusCode::NOT_FOUND), false),
            (true, Ok(StatusCode::OK), false),
            (false, Err(&connect), true),
            (true, Err(&dropped), true),
            (false, Err(&dropped), false),
        ];
        for (idempotent, outcome, want) in cases {
            assert_eq!(should_retry(idempotent, outcome), want, "{idempotent} {outcome:?}");
        }
    }
}
