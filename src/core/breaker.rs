//! The lockout guard: an API that keeps receiving 429s may disable the caller's credentials, so
//! repeated 429s open a breaker, and retries are held to a budget.

use super::Millis;

/// The breaker's state, as reported in stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow.
    Closed,
    /// Nothing is sent until the cooldown ends.
    Open {
        /// When the cooldown ends and one probe may go.
        until: Millis,
    },
    /// One probe is (or may be) in flight; its answer closes or reopens the breaker.
    HalfOpen {
        /// Whether the probe has been sent.
        probing: bool,
    },
}

impl BreakerState {
    /// `"closed" | "open" | "half-open"`.
    pub fn name(&self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open { .. } => "open",
            BreakerState::HalfOpen { .. } => "half-open",
        }
    }
}

/// Opens after `threshold` consecutive 429s for `cooldown`, then lets exactly one probe through.
/// Defaults (for 200 per 60 s): threshold 3, cooldown one window (60 s); each reopening without
/// a success in between doubles the cooldown, up to 8 windows.
#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    cooldown: Millis,
    max_cooldown: Millis,
    consecutive: u32,
    reopenings: u32,
    state: BreakerState,
}

impl Breaker {
    /// A closed breaker. `threshold` 0 disables it.
    pub fn new(threshold: u32, cooldown: Millis) -> Self {
        Breaker {
            threshold,
            cooldown,
            max_cooldown: cooldown.saturating_mul(8),
            consecutive: 0,
            reopenings: 0,
            state: BreakerState::Closed,
        }
    }

    /// The state at `now` (an open breaker whose cooldown ended is half-open).
    pub fn state(&mut self, now: Millis) -> BreakerState {
        if let BreakerState::Open { until } = self.state {
            if now >= until {
                self.state = BreakerState::HalfOpen { probing: false };
            }
        }
        self.state
    }

    /// Whether a request may be sent at `now`; `Err(t)` means not before `t` (`Millis::MAX`:
    /// not until the probe in flight answers).
    pub fn admits(&mut self, now: Millis) -> Result<(), Millis> {
        match self.state(now) {
            BreakerState::Closed | BreakerState::HalfOpen { probing: false } => Ok(()),
            BreakerState::Open { until } => Err(until),
            BreakerState::HalfOpen { probing: true } => Err(Millis::MAX),
        }
    }

    /// Records that a request was sent (in half-open state it becomes the probe).
    pub fn on_send(&mut self, now: Millis) {
        if let BreakerState::HalfOpen { probing: false } = self.state(now) {
            self.state = BreakerState::HalfOpen { probing: true };
        }
    }

    /// Records a 429. Returns `true` when this opened the breaker.
    pub fn on_rate_limited(&mut self, now: Millis) -> bool {
        self.consecutive = self.consecutive.saturating_add(1);
        if self.threshold == 0 {
            return false;
        }
        let reopen = matches!(self.state(now), BreakerState::HalfOpen { .. });
        if reopen || (self.consecutive >= self.threshold && self.state == BreakerState::Closed) {
            let factor = 1u64 << self.reopenings.min(16);
            let cooldown = self.cooldown.saturating_mul(factor).min(self.max_cooldown.max(self.cooldown));
            self.reopenings = self.reopenings.saturating_add(1);
            self.state = BreakerState::Open { until: now.saturating_add(cooldown) };
            return true;
        }
        false
    }

    /// Records an answer that was not a 429. Returns `true` when this closed the breaker.
    pub fn on_success(&mut self, now: Millis) -> bool {
        self.consecutive = 0;
        let was_half_open = matches!(self.state(now), BreakerState::HalfOpen { .. });
        if was_half_open {
            self.state = BreakerState::Closed;
            self.reopenings = 0;
        } else if self.state == BreakerState::Closed {
            self.reopenings = 0;
        }
        was_half_open
    }

    /// Records that a request settled without an answer (network error, abort): a probe that
    /// never answered lets another probe go.
    pub fn on_no_answer(&mut self, now: Millis) {
        if let BreakerState::HalfOpen { probing: true } = self.state(now) {
            self.state = BreakerState::HalfOpen { probing: false };
        }
    }
}

/// A retry budget in the style of gRPC's retry throttling (A6): each retry costs one token,
/// each answered request that was not a failure earns back `ratio` tokens, and retries stop
/// while the bucket is at or below half. Defaults for 200 per 60 s: 20 tokens, ratio 0.1, so a
/// burst of nine retries is allowed and after that about one retry per ten good answers.
#[derive(Debug, Clone)]
pub struct RetryBudget {
    max_tokens: f64,
    ratio: f64,
    tokens: f64,
}

impl RetryBudget {
    /// A full bucket of `max_tokens`, earning `ratio` per success. `max_tokens` 0 disables it.
    pub fn new(max_tokens: f64, ratio: f64) -> Self {
        let max_tokens = if max_tokens.is_finite() { max_tokens.max(0.0) } else { 0.0 };
        let ratio = if ratio.is_finite() { ratio.max(0.0) } else { 0.0 };
        RetryBudget { max_tokens, ratio, tokens: max_tokens }
    }

    /// Whether a retry is allowed now; spends a token when it is.
    pub fn try_spend(&mut self) -> bool {
        if self.max_tokens == 0.0 {
            return true;
        }
        if self.tokens - 1.0 <= self.max_tokens / 2.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }

    /// Records a good answer.
    pub fn on_success(&mut self) {
        self.tokens = (self.tokens + self.ratio).min(self.max_tokens);
    }

    /// Tokens left.
    pub fn tokens(&self) -> f64 {
        self.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_then_one_probe() {
        let mut b = Breaker::new(3, 1_000);
        assert!(!b.on_rate_limited(0));
        assert!(!b.on_rate_limited(1));
        assert!(b.on_rate_limited(2));
        assert_eq!(b.admits(500), Err(1_002));
        assert_eq!(b.admits(1_002), Ok(()));
        b.on_send(1_002);
        assert_eq!(b.state(1_003), BreakerState::HalfOpen { probing: true });
        assert_eq!(b.admits(1_003), Err(Millis::MAX));
        assert!(b.on_success(1_100));
        assert_eq!(b.admits(1_100), Ok(()));
        assert_eq!(b.state(1_100), BreakerState::Closed);
    }

    #[test]
    fn a_failed_probe_reopens_for_longer() {
        let mut b = Breaker::new(1, 1_000);
        assert!(b.on_rate_limited(0));
        b.on_send(1_000);
        assert!(b.on_rate_limited(1_050));
        assert_eq!(b.state(1_060), BreakerState::Open { until: 3_050 });
    }

    #[test]
    fn success_resets_the_count() {
        let mut b = Breaker::new(3, 1_000);
        b.on_rate_limited(0);
        b.on_rate_limited(0);
        b.on_success(1);
        assert!(!b.on_rate_limited(2));
        assert!(!b.on_rate_limited(3));
        assert!(b.on_rate_limited(4));
    }

    #[test]
    fn a_lost_probe_lets_another_go() {
        let mut b = Breaker::new(1, 10);
        b.on_rate_limited(0);
        b.on_send(10);
        b.on_no_answer(20);
        assert_eq!(b.admits(20), Ok(()));
    }

    #[test]
    fn threshold_zero_disables() {
        let mut b = Breaker::new(0, 10);
        for t in 0..10 {
            assert!(!b.on_rate_limited(t));
        }
        assert_eq!(b.admits(10), Ok(()));
    }

    #[test]
    fn budget_allows_burst_then_ratio() {
        let mut r = RetryBudget::new(20.0, 0.1);
        let allowed = (0..30).filter(|_| r.try_spend()).count();
        assert_eq!(allowed, 9);
        for _ in 0..10 {
            r.on_success();
        }
        assert!(r.try_spend());
        assert!(!r.try_spend());
        let mut off = RetryBudget::new(0.0, 0.1);
        assert!((0..100).all(|_| off.try_spend()));
    }
}
