//! Retrying a failed sync per `syncPolicy.retry`: at most `limit` more attempts of the same
//! revision, each after `duration × factor^(attempt − 1)`, never longer than `maxDuration` —
//! requeued, never a hot loop. And the jittered `refreshInterval`, so Applications created
//! together do not all compare again in the same second. Pure.

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

/// The default of `spec.refreshInterval`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(180);

/// When an Application with id `id` and `refreshInterval` `interval` is compared again: after
/// the interval plus up to a tenth of it, spread evenly over Applications by a hash of the id
/// (the same Application always waits the same; no randomness to test around).
pub fn jittered(interval: Duration, id: &str) -> Duration {
    // FNV-1a: stable across processes and versions, unlike the std hasher.
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let spread = interval / 10;
    let millis = u64::try_from(spread.as_millis()).unwrap_or(u64::MAX);
    interval + Duration::from_millis(hash.checked_rem(millis).unwrap_or(0))
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
    // A negative limit retries without end, as in Argo CD.
    if strategy.limit >= 0 && i64::from(attempt) > strategy.limit {
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

    #[test]
    fn refreshes_are_spread_over_a_tenth_of_the_interval_and_stable_per_application() {
        let interval = Duration::from_secs(180);
        let waits: Vec<Duration> = (0..1000)
            .map(|i| jittered(interval, &format!("team/app-{i}")))
            .collect();
        assert!(
            waits
                .iter()
                .all(|w| *w >= interval && *w < interval + interval / 10)
        );
        // Spread: each of the ten 1.8 s buckets gets a fair share (at least half of 100).
        let mut buckets = [0_u32; 10];
        for w in &waits {
            let bucket = (w.as_millis() - interval.as_millis()) / 1800;
            buckets[usize::try_from(bucket).unwrap_or(9).min(9)] += 1;
        }
        assert!(buckets.iter().all(|&n| n >= 50), "{buckets:?}");
        assert_eq!(
            jittered(interval, "team/web"),
            jittered(interval, "team/web")
        );
        assert_eq!(jittered(Duration::ZERO, "team/web"), Duration::ZERO);
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

    /// Regression: a negative limit, documented as "without end", allowed no retry at all.
    #[test]
    fn a_negative_limit_retries_without_end() {
        let s = strategy(-1);
        let retried = decide(Some(&s), &failed(1000), Duration::from_secs(3600));
        assert_eq!(retried, Retry::Now { attempt: 1001 });
    }
}
