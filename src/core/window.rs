//! The exact rolling window with completion-anchored slots.
//!
//! The server counts a request when it *arrives*; we only know when we *send* it and when its
//! answer *comes back*. The old request arrived no later than its answer came back, and a new one
//! arrives no earlier than it is sent. So a slot is taken at send time, held while the request is
//! in flight, and frees at `settled_at + window`: if every new send happens after that, no two
//! arrivals the server sees can fall inside one window more than `limit` times, whatever the
//! latencies were. This module enforces that rule for one or several windows at once.

use std::collections::{HashSet, VecDeque};

use super::Millis;

/// Identifies one granted slot (one request in flight) until it is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotId(pub u64);

/// The answer of [`Limiter::try_acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquire {
    /// The request may be sent now; settle the slot when it completes.
    Granted(SlotId),
    /// No slot before this time (unless the limiter changes, e.g. a settle).
    WaitUntil(Millis),
    /// Every slot is held by a request in flight: the next chance comes when one settles.
    WaitForSettle,
}

/// One `limit`-per-`window` rule.
#[derive(Debug, Clone)]
pub struct Window {
    limit: u32,
    /// What we may actually use (≤ `limit`): lowered when we learn others spend the budget.
    effective: u32,
    window: Millis,
    /// Requests in flight that hold a slot of this window.
    held: u32,
    /// When each settled slot frees, in non-decreasing order (settle times are monotonic).
    frees_at: VecDeque<Millis>,
}

impl Window {
    /// A rule allowing `limit` requests per rolling `window` milliseconds. `limit` is at least 1.
    pub fn new(limit: u32, window: Millis) -> Self {
        let limit = limit.max(1);
        Window {
            limit,
            effective: limit,
            window,
            held: 0,
            frees_at: VecDeque::with_capacity(limit.min(4096) as usize),
        }
    }

    /// The configured limit.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The share of the limit we currently allow ourselves.
    pub fn effective(&self) -> u32 {
        self.effective
    }

    /// Sets the share we allow ourselves, clamped to `1..=limit`.
    pub fn set_effective(&mut self, effective: u32) {
        self.effective = effective.clamp(1, self.limit);
    }

    /// The configured window length in milliseconds.
    pub fn window(&self) -> Millis {
        self.window
    }

    fn prune(&mut self, now: Millis) {
        while self.frees_at.front().is_some_and(|&t| t <= now) {
            self.frees_at.pop_front();
        }
    }

    /// Slots counted against the limit at `now`: in flight plus settled but still in the window.
    pub fn used(&mut self, now: Millis) -> u32 {
        self.prune(now);
        self.held.saturating_add(self.frees_at.len() as u32)
    }

    /// Requests in flight holding a slot.
    pub fn held(&self) -> u32 {
        self.held
    }

    /// When the next slot frees if none is free at `now` (`None`: free now, or only a settle can
    /// free one). Call after [`Window::used`] pruned the log.
    fn next_free(&self) -> Option<Millis> {
        let used = self.held as usize + self.frees_at.len();
        let limit = self.effective as usize;
        if used < limit {
            return None;
        }
        // `used - limit` entries must expire before one slot is free; the one at that index is
        // the last of them (entries are sorted).
        let index = used - limit;
        if index >= self.frees_at.len() {
            return None;
        }
        self.frees_at.get(index).copied()
    }

    fn take(&mut self) {
        self.held = self.held.saturating_add(1);
    }

    fn release(&mut self, settled_at: Millis) {
        self.held = self.held.saturating_sub(1);
        self.push_free(settled_at.saturating_add(self.window));
    }

    /// Marks the window full until `until`: the server said no more for now (a 429 without
    /// timing), so every slot not already counted is treated as used by someone we cannot see.
    fn fill_until(&mut self, now: Millis, until: Millis) {
        self.prune(now);
        let used = self.held as usize + self.frees_at.len();
        let missing = (self.effective as usize).saturating_sub(used);
        for _ in 0..missing {
            self.push_free(until);
        }
    }

    /// Logs a slot that frees at `frees`, keeping the log sorted even for entries that free
    /// later than the newest (hidden consumers) or a caller's clock that went backwards.
    fn push_free(&mut self, frees: Millis) {
        if self.frees_at.back().is_some_and(|&last| last > frees) {
            let pos = self.frees_at.partition_point(|&t| t <= frees);
            self.frees_at.insert(pos, frees);
        } else {
            self.frees_at.push_back(frees);
        }
    }
}

/// Several windows that must all admit a request (e.g. 10 per second AND 200 per minute).
#[derive(Debug, Clone)]
pub struct Limiter {
    windows: Vec<Window>,
    in_flight: HashSet<SlotId>,
    next_id: u64,
}

impl Limiter {
    /// A limiter enforcing every window in `windows` at once.
    pub fn new(windows: Vec<Window>) -> Self {
        Limiter {
            windows,
            in_flight: HashSet::new(),
            next_id: 0,
        }
    }

    /// The windows this limiter enforces.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// Takes a slot in every window if all have room at `now`.
    pub fn try_acquire(&mut self, now: Millis) -> Acquire {
        match self.earliest(now) {
            Some(wait) => wait,
            None => {
                for w in &mut self.windows {
                    w.take();
                }
                self.next_id = self.next_id.wrapping_add(1);
                let id = SlotId(self.next_id);
                self.in_flight.insert(id);
                Acquire::Granted(id)
            }
        }
    }

    /// `None` when a request could be sent at `now`; otherwise when to look again.
    pub fn earliest(&mut self, now: Millis) -> Option<Acquire> {
        let mut until: Option<Millis> = None;
        let mut blocked_by_flight = false;
        for w in &mut self.windows {
            if w.used(now) < w.effective {
                continue;
            }
            match w.next_free() {
                Some(t) => until = Some(until.map_or(t, |u| u.max(t))),
                None => blocked_by_flight = true,
            }
        }
        match (until, blocked_by_flight) {
            (_, true) => Some(Acquire::WaitForSettle),
            (Some(t), false) => Some(Acquire::WaitUntil(t)),
            (None, false) => None,
        }
    }

    /// Releases `slot` at `now`: it frees in each window at `now + window`. Returns `false` (and
    /// changes nothing) for a slot that is unknown or already settled.
    pub fn settle(&mut self, slot: SlotId, now: Millis) -> bool {
        if !self.in_flight.remove(&slot) {
            return false;
        }
        for w in &mut self.windows {
            w.release(now);
        }
        true
    }

    /// Releases a slot whose request was never sent, leaving no trace in any window.
    pub fn revoke(&mut self, slot: SlotId) -> bool {
        if !self.in_flight.remove(&slot) {
            return false;
        }
        for w in &mut self.windows {
            w.held = w.held.saturating_sub(1);
        }
        true
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The windows, for adjusting their effective share.
    pub fn windows_mut(&mut self) -> &mut [Window] {
        &mut self.windows
    }

    /// When the `k`-th next slot (0-based) frees, as far as we know at `now`. A slot that
    /// depends on a request still in flight frees one window after it completes, so no earlier
    /// than `now + window`: that lower bound is what we report then.
    pub fn nth_free(&mut self, now: Millis, k: usize) -> Option<Millis> {
        let mut at = now;
        for w in &mut self.windows {
            let used = w.used(now) as usize;
            let room = (w.effective as usize).saturating_sub(used);
            if k < room {
                continue;
            }
            // Entries that must expire first: the `k - room + 1` oldest settled ones.
            let index = k - room;
            match w.frees_at.get(index) {
                Some(&t) => at = at.max(t),
                None => at = at.max(now.saturating_add(w.window)),
            }
        }
        Some(at)
    }

    /// Slots used at `now` in the tightest window, and that window's limit.
    pub fn usage(&mut self, now: Millis) -> (u32, u32) {
        let mut best: Option<(u32, u32)> = None;
        for w in &mut self.windows {
            let used = w.used(now);
            let left = w.effective.saturating_sub(used);
            if best.is_none_or(|(u, l)| left < l.saturating_sub(u)) {
                best = Some((used, w.effective));
            }
        }
        best.unwrap_or((0, 0))
    }

    /// Requests that could be sent at `now` before some window is full.
    pub fn remaining(&mut self, now: Millis) -> u32 {
        let (used, limit) = self.usage(now);
        limit.saturating_sub(used)
    }

    /// Treats every window as full until `until` (a 429 without timing information).
    pub fn fill_until(&mut self, now: Millis, until: Millis) {
        for w in &mut self.windows {
            w.fill_until(now, until);
        }
    }

    /// Reduces what the first window will admit before `until` to `remaining` more requests
    /// (the server said it has fewer left than we think: someone else spends the budget).
    pub fn sync_remaining(&mut self, now: Millis, remaining: u32, until: Millis) {
        if let Some(w) = self.windows.first_mut() {
            let used = w.used(now);
            let room = w.effective.saturating_sub(used);
            for _ in remaining..room {
                w.push_free(until);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(a: Acquire) -> SlotId {
        match a {
            Acquire::Granted(s) => s,
            other => panic!("expected a grant, got {other:?}"),
        }
    }

    #[test]
    fn grants_up_to_limit_then_waits_for_settle() {
        let mut l = Limiter::new(vec![Window::new(2, 1000)]);
        let a = granted(l.try_acquire(0));
        let _b = granted(l.try_acquire(0));
        assert_eq!(l.try_acquire(10), Acquire::WaitForSettle);
        assert!(l.settle(a, 100));
        // Settled at 100: frees at 1100, not at 0 + 1000.
        assert_eq!(l.try_acquire(500), Acquire::WaitUntil(1100));
        assert_eq!(l.try_acquire(1099), Acquire::WaitUntil(1100));
        granted(l.try_acquire(1100));
    }

    #[test]
    fn double_settle_is_ignored() {
        let mut l = Limiter::new(vec![Window::new(1, 1000)]);
        let a = granted(l.try_acquire(0));
        assert!(l.settle(a, 5));
        assert!(!l.settle(a, 6));
        assert!(!l.settle(SlotId(999), 6));
        assert_eq!(l.try_acquire(6), Acquire::WaitUntil(1005));
    }

    #[test]
    fn several_windows_must_all_admit() {
        let mut l = Limiter::new(vec![Window::new(2, 100), Window::new(3, 1000)]);
        for t in [0, 0] {
            let s = granted(l.try_acquire(t));
            l.settle(s, t);
        }
        // The short window is full until 100.
        assert_eq!(l.try_acquire(50), Acquire::WaitUntil(100));
        let s = granted(l.try_acquire(100));
        l.settle(s, 100);
        // Now the long window (3 per 1000) is full until the first settle + 1000.
        assert_eq!(l.try_acquire(250), Acquire::WaitUntil(1000));
    }

    #[test]
    fn wait_until_picks_the_right_entry_when_some_are_held() {
        let mut l = Limiter::new(vec![Window::new(3, 1000)]);
        let a = granted(l.try_acquire(0));
        let b = granted(l.try_acquire(0));
        let _c = granted(l.try_acquire(0));
        l.settle(a, 10);
        l.settle(b, 20);
        // One held, two settled: the first settled entry (10 + 1000) frees a slot.
        assert_eq!(l.try_acquire(30), Acquire::WaitUntil(1010));
    }

    #[test]
    fn fill_until_blocks_until_then() {
        let mut l = Limiter::new(vec![Window::new(5, 1000)]);
        let a = granted(l.try_acquire(0));
        l.settle(a, 10);
        l.fill_until(20, 500);
        assert_eq!(l.try_acquire(30), Acquire::WaitUntil(500));
        granted(l.try_acquire(500));
        // The filler freed at 500; our own settled entry (frees at 1010) and the new one count.
        assert_eq!(l.remaining(500), 3);
        assert_eq!(l.remaining(1010), 4);
    }

    #[test]
    fn sync_remaining_lowers_room() {
        let mut l = Limiter::new(vec![Window::new(10, 1000)]);
        l.sync_remaining(0, 2, 400);
        assert_eq!(l.remaining(0), 2);
        // A server that says more remain than we think changes nothing.
        l.sync_remaining(0, 50, 400);
        assert_eq!(l.remaining(0), 2);
        assert_eq!(l.remaining(399), 2);
        assert_eq!(l.remaining(400), 10);
    }

    #[test]
    fn memory_stays_bounded_by_limit() {
        let mut l = Limiter::new(vec![Window::new(3, 100)]);
        let mut now = 0;
        for _ in 0..10_000 {
            match l.try_acquire(now) {
                Acquire::Granted(s) => {
                    l.settle(s, now + 1);
                }
                Acquire::WaitUntil(t) => now = t,
                Acquire::WaitForSettle => panic!("nothing is in flight"),
            }
        }
        let w = &l.windows()[0];
        assert!(w.frees_at.len() <= 3);
    }
}
