//! The retry decision: a pure function of what happened, what the server said, and the policy.

use super::backoff::BackoffPolicy;
use super::signals::Signals;
use super::Millis;

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered with this status.
    Status(u16),
    /// No answer: connection refused, reset, DNS failure, …
    NetworkError,
    /// The caller aborted the attempt.
    Aborted,
}

/// Why a call will not be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUpReason {
    /// The answer is final (success, or a status that retrying cannot change).
    Final,
    /// The status or error is retryable, but not for this method (not idempotent).
    NotIdempotent,
    /// Every allowed attempt was made.
    AttemptsExhausted,
    /// The server asked for a longer wait than `max_retry_after`; it can be retried at `at`.
    RetryAfterTooLong {
        /// When the server said a new request may succeed.
        at: Millis,
    },
    /// The retry budget is spent (too many retries relative to recent successes).
    BudgetExhausted,
    /// The caller aborted.
    Aborted,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again, not before `at`.
    Retry {
        /// The earliest time for the next attempt.
        at: Millis,
        /// Whether `at` came from the server (then it is exact: never shortened, no jitter).
        server_given: bool,
    },
    /// Return this attempt's result to the caller.
    GiveUp {
        /// Why.
        reason: GiveUpReason,
    },
}

/// The retry settings. Defaults: 5 retries, honour server waits up to 120 s, retry 408, 429,
/// 500, 502, 503, 504 and network errors; 429 for every method (the server did not process the
/// request), the rest only for idempotent methods.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub limit: u32,
    /// The longest server-given wait we accept; a longer one gives up instead of retrying early.
    pub max_retry_after: Millis,
    /// Statuses worth retrying (429 is always retried for every method when listed).
    pub status_codes: Vec<u16>,
    /// Methods (upper-case) that may be retried after a network error or a 5xx/408.
    pub methods: Vec<String>,
    /// Delays when the server gives none.
    pub backoff: BackoffPolicy,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            limit: 5,
            max_retry_after: 120_000,
            status_codes: vec![408, 429, 500, 502, 503, 504],
            methods: ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]
                .iter()
                .map(|m| (*m).to_string())
                .collect(),
            backoff: BackoffPolicy::default(),
        }
    }
}

impl RetryPolicy {
    fn idempotent(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
    }

    /// Decides after attempt number `attempt` (1 for the first) ended with `outcome` at `now`.
    /// `backoff` yields the next jittered delay and is only called when one is needed.
    pub fn decide(
        &self,
        outcome: Outcome,
        signals: &Signals,
        attempt: u32,
        now: Millis,
        method: &str,
        backoff: impl FnOnce() -> Millis,
    ) -> Decision {
        let give_up = |reason| Decision::GiveUp { reason };
        let server_wait = match outcome {
            Outcome::Aborted => return give_up(GiveUpReason::Aborted),
            Outcome::Status(429) if self.status_codes.contains(&429) => signals.server_wait_ms(),
            Outcome::Status(status) if self.status_codes.contains(&status) => {
                if !self.idempotent(method) {
                    return give_up(GiveUpReason::NotIdempotent);
                }
                signals.retry_after_ms
            }
            Outcome::Status(_) => return give_up(GiveUpReason::Final),
            Outcome::NetworkError => {
                if !self.idempotent(method) {
                    return give_up(GiveUpReason::NotIdempotent);
                }
                None
            }
        };
        if let Some(wait) = server_wait {
            let at = now.saturating_add(wait);
            if wait > self.max_retry_after {
                return give_up(GiveUpReason::RetryAfterTooLong { at });
            }
            if attempt > self.limit {
                return give_up(GiveUpReason::AttemptsExhausted);
            }
            return Decision::Retry { at, server_given: true };
        }
        if attempt > self.limit {
            return give_up(GiveUpReason::AttemptsExhausted);
        }
        Decision::Retry {
            at: now.saturating_add(backoff()),
            server_given: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(retry_after_ms: Option<Millis>) -> Signals {
        Signals { retry_after_ms, ..Signals::default() }
    }

    #[test]
    fn table() {
        let p = RetryPolicy::default();
        let none = Signals::default();
        let retry = |at| Decision::Retry { at, server_given: false };
        let server = |at| Decision::Retry { at, server_given: true };
        let gu = |reason| Decision::GiveUp { reason };
        let cases: Vec<(Outcome, Signals, u32, &str, Decision)> = vec![
            (Outcome::Status(200), none, 1, "GET", gu(GiveUpReason::Final)),
            (Outcome::Status(404), none, 1, "GET", gu(GiveUpReason::Final)),
            (Outcome::Status(429), none, 1, "POST", retry(1_050)),
            (Outcome::Status(429), sig(Some(3_000)), 1, "POST", server(4_000)),
            (Outcome::Status(429), sig(Some(0)), 1, "GET", server(1_000)),
            (Outcome::Status(503), none, 1, "GET", retry(1_050)),
            (Outcome::Status(503), none, 1, "POST", gu(GiveUpReason::NotIdempotent)),
            (Outcome::Status(503), sig(Some(2_000)), 2, "put", server(3_000)),
            (Outcome::NetworkError, none, 1, "GET", retry(1_050)),
            (Outcome::NetworkError, none, 1, "PATCH", gu(GiveUpReason::NotIdempotent)),
            (Outcome::Aborted, none, 1, "GET", gu(GiveUpReason::Aborted)),
            (Outcome::Status(429), none, 6, "GET", gu(GiveUpReason::AttemptsExhausted)),
            (Outcome::Status(429), sig(Some(5_000)), 6, "GET", gu(GiveUpReason::AttemptsExhausted)),
            (Outcome::Status(429), sig(Some(120_000)), 1, "GET", server(121_000)),
            (
                Outcome::Status(429),
                sig(Some(120_001)),
                1,
                "GET",
                gu(GiveUpReason::RetryAfterTooLong { at: 121_001 }),
            ),
            (
                Outcome::Status(429),
                sig(Some(u64::MAX)),
                1,
                "GET",
                gu(GiveUpReason::RetryAfterTooLong { at: u64::MAX }),
            ),
        ];
        for (outcome, signals, attempt, method, expected) in cases {
            let got = p.decide(outcome, &signals, attempt, 1_000, method, || 50);
            assert_eq!(got, expected, "{outcome:?} {signals:?} attempt {attempt} {method}");
        }
    }

    #[test]
    fn remaining_zero_with_reset_is_a_server_time() {
        let p = RetryPolicy::default();
        let s = Signals { remaining: Some(0), reset_ms: Some(7_000), ..Signals::default() };
        let d = p.decide(Outcome::Status(429), &s, 1, 0, "GET", || 1);
        assert_eq!(d, Decision::Retry { at: 7_000, server_given: true });
    }

    #[test]
    fn backoff_is_drawn_only_when_needed() {
        let p = RetryPolicy::default();
        let mut drawn = 0;
        p.decide(Outcome::Status(429), &sig(Some(10)), 1, 0, "GET", || {
            drawn += 1;
            1
        });
        assert_eq!(drawn, 0);
    }

    #[test]
    fn limit_zero_never_retries() {
        let p = RetryPolicy { limit: 0, ..RetryPolicy::default() };
        let d = p.decide(Outcome::Status(429), &Signals::default(), 1, 0, "GET", || 1);
        assert_eq!(d, Decision::GiveUp { reason: GiveUpReason::AttemptsExhausted });
    }
}
