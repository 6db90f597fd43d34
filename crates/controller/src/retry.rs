//! Retrying a failed sync per `syncPolicy.retry`: at most `limit` more attempts of the same
//! revision, each after `duration × factor^(attempt − 1)`, never longer than `maxDuration` —
//! requeued, never a hot loop. Pure.

use std::time::Duration;

use capstan_api::application::RetryStrategy;
use capstan_api::{OperationPhase, OperationState};

/// What to do about the last operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Nothing to retry: it did not fail, or the strategy allows no more attempts.
    No,
    /// Retry now; this is retry number `attempt` (from 1).
    Now {
        /// The retry's number.
        attempt: u32,
    },
    /// Retry later: look again after this long.
    After(Duration),
}

/// The wait before retry number `attempt` (from 1).
pub fn backoff(strategy: &RetryStrategy, attempt: u32) -> Duration {
    let backoff = strategy.backoff.as_ref();
    let first = backoff
        .and_then(|b| b.duration().ok())
        .unwrap_or(Duration::from_secs(5));
    let factor = backoff.and_then(|b| b.factor).unwrap_or(2).max(1);
    let cap = backoff
        .and_then(|b| b.max_duration().ok())
        .unwrap_or(Duration::from_secs(180));
    let exponent = attempt.saturating_sub(1).min(30);
    let multiplier = u32::try_from(factor)
        .unwrap_or(u32::MAX)
        .saturating_pow(exponent);
    first.saturating_mul(multiplier).min(cap)
}

/// Whether the failed `last` operation is retried, `since_finished` after it ended.
pub fn decide(
    strategy: Option<&RetryStrategy>,
    last: &OperationState,
    since_finished: Duration,
) -> Retry {
    let Some(strategy) = strategy else {
        return Retry::No;
    };
    if !matches!(last.phase, OperationPhase::Failed | OperationPhase::Error) {
        return Retry::No;
    }
    let attempt = last.retry_count.saturating_add(1);
    if i64::from(attempt) > strategy.limit {
        return Retry::No;
    }
    let wait = backoff(strategy, attempt);
    if since_finished >= wait {
        Retry::Now { attempt }
    } else {
        Retry::After(wait - since_finished)
    }
}

#[cfg(test)]
mod tests {
    use capstan_api::Operation;
    use capstan_api::application::Backoff;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    fn strategy(limit: i64) -> RetryStrategy {
        RetryStrategy {
            limit,
            backoff: Some(Backoff {
                duration: Some("1s".into()),
                factor: Some(2),
                max_duration: Some("5s".into()),
            }),
        }
    }

    fn failed(retries: u32) -> OperationState {
        OperationState {
            operation: Operation::default(),
            phase: OperationPhase::Failed,
            reason: None,
            message: String::new(),
            started_at: Time("2026-11-30T12:00:00Z".parse().unwrap()),
            finished_at: None,
            wave: None,
            step: None,
            retry_count: retries,
            initiated_by: None,
            sync_result: None,
        }
    }

    #[test]
    fn backoff_grows_by_the_factor_and_stops_at_the_cap() {
        let waits: Vec<u64> = (1..=5)
            .map(|n| backoff(&strategy(9), n).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
    }

    #[test]
    fn a_failed_sync_is_retried_after_its_backoff_up_to_the_limit_and_never_without_a_strategy() {
        let s = strategy(2);
        let secs = Duration::from_secs;
        assert_eq!(decide(None, &failed(0), secs(60)), Retry::No);
        assert_eq!(decide(Some(&s), &failed(0), secs(0)), Retry::After(secs(1)));
        assert_eq!(
            decide(Some(&s), &failed(0), secs(1)),
            Retry::Now { attempt: 1 }
        );
        assert_eq!(decide(Some(&s), &failed(1), secs(1)), Retry::After(secs(1)));
        assert_eq!(
            decide(Some(&s), &failed(1), secs(2)),
            Retry::Now { attempt: 2 }
        );
        assert_eq!(
            decide(Some(&s), &failed(2), secs(60)),
            Retry::No,
            "the limit is reached"
        );
        let mut done = failed(0);
        done.phase = OperationPhase::Succeeded;
        assert_eq!(decide(Some(&s), &done, secs(60)), Retry::No);
    }
}
