//! Learning the share of the budget left to us when others (other processes, other accounts of
//! the same organization) spend it without telling us.
//!
//! A 429 that our own traffic cannot explain means someone else used `limit - ours` of the
//! window. We drop our effective limit to what the server accepted from us in that window (but
//! at most by half per 429, since that count is only a lower bound), so a steady hidden
//! consumer causes 429s in the first window or two only. We then probe upwards, slowly: after a
//! quiet period (4 windows at first) the limit grows by 5 % of the configured limit per window
//! without a 429. A probe that draws a 429 doubles the next quiet period (up to 64 windows), so
//! against a consumer that never leaves, 429s get rarer and rarer rather than recurring every
//! window. Never above the configured limit.

use std::collections::VecDeque;

use super::Millis;

/// Quiet windows before the first probe.
const FIRST_QUIET: u32 = 4;
/// The longest quiet period, in windows.
const MAX_QUIET: u32 = 64;

/// The learned effective limit of one window.
#[derive(Debug, Clone)]
pub struct ShareLearner {
    limit: u32,
    window: Millis,
    effective: u32,
    quiet_windows: u32,
    next_probe: Millis,
    probed: bool,
    /// When our recent 429s came back: they occupy our window log but the server did not
    /// accept them.
    rejected: VecDeque<Millis>,
}

impl ShareLearner {
    /// Starts trusting the whole `limit` per `window`.
    pub fn new(limit: u32, window: Millis) -> Self {
        ShareLearner {
            limit: limit.max(1),
            window,
            effective: limit.max(1),
            quiet_windows: FIRST_QUIET,
            next_probe: 0,
            probed: false,
            rejected: VecDeque::new(),
        }
    }

    /// The limit we allow ourselves now.
    pub fn effective(&self) -> u32 {
        self.effective
    }

    /// A 429 at `now` while `ours` of our requests (this one included) were in our window:
    /// the server accepted those minus the ones it rejected within the window.
    pub fn on_rate_limited(&mut self, now: Millis, ours: u32) {
        if self.probed {
            self.quiet_windows = self.quiet_windows.saturating_mul(2).min(MAX_QUIET);
        }
        self.probed = false;
        let since = now.saturating_sub(self.window);
        while self.rejected.front().is_some_and(|&t| t <= since) {
            self.rejected.pop_front();
        }
        if self.rejected.len() < self.limit as usize {
            self.rejected.push_back(now);
        }
        let accepted = ours.saturating_sub(self.rejected.len() as u32);
        // What the server accepted from us is only a lower bound of our share (the window may
        // have just begun), so one 429 at most halves the limit: a steady hidden consumer is
        // matched within a few windows, a stray 429 does not collapse the rate.
        let floor = self.effective / 2;
        self.effective = self.effective.min(accepted.max(floor)).max(1);
        self.next_probe = now.saturating_add(self.window.saturating_mul(u64::from(self.quiet_windows)));
    }

    /// Grows the limit when a probe is due at `now`. Returns `true` when it changed.
    pub fn tick(&mut self, now: Millis) -> bool {
        if self.effective >= self.limit || now < self.next_probe {
            return false;
        }
        let step = (self.limit / 20).max(1);
        self.effective = self.effective.saturating_add(step).min(self.limit);
        self.next_probe = now.saturating_add(self.window);
        self.probed = true;
        if self.effective == self.limit {
            // Fully recovered: the next trouble starts from a short quiet period again.
            self.quiet_windows = FIRST_QUIET;
            self.probed = false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_to_what_we_had_then_probes_slowly() {
        let mut s = ShareLearner::new(100, 1_000);
        s.on_rate_limited(10, 61);
        assert_eq!(s.effective(), 60);
        assert!(!s.tick(3_999));
        assert!(s.tick(4_010));
        assert_eq!(s.effective(), 65);
        assert!(!s.tick(4_500));
        assert!(s.tick(5_010));
        assert_eq!(s.effective(), 70);
    }

    #[test]
    fn a_failed_probe_doubles_the_quiet_period() {
        let mut s = ShareLearner::new(100, 1_000);
        s.on_rate_limited(0, 51);
        assert!(s.tick(4_000));
        s.on_rate_limited(4_100, 53);
        assert_eq!(s.effective(), 52);
        assert!(!s.tick(4_100 + 7_999));
        assert!(s.tick(4_100 + 8_000));
        s.on_rate_limited(12_200, 53);
        assert!(!s.tick(12_200 + 15_999));
        assert!(s.tick(12_200 + 16_000));
    }

    #[test]
    fn rejections_within_the_window_are_not_counted_as_accepted() {
        let mut s = ShareLearner::new(20, 1_000);
        // A burst of 20: the last 8 come back 429 while all 20 are in our window.
        for i in 0..8 {
            s.on_rate_limited(100 + i, 20);
        }
        assert_eq!(s.effective(), 12);
        // A 429 a window later counts only itself as rejected.
        s.on_rate_limited(1_200, 13);
        assert_eq!(s.effective(), 12);
    }

    #[test]
    fn never_below_one_nor_above_limit() {
        let mut s = ShareLearner::new(3, 100);
        s.on_rate_limited(0, 0);
        assert_eq!(s.effective(), 1);
        for t in (0..10_000).step_by(100) {
            s.tick(t);
        }
        assert_eq!(s.effective(), 3);
    }
}
