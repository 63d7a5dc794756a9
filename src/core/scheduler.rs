//! The throttle's brain: a queue of calls, the rolling windows, the shared pause, the breaker,
//! the retry budget and the learned share, driven by `now` arguments. The caller (the Wasm
//! layer, or a test with a fake clock) enqueues calls, polls for grants, sends, and reports how
//! each attempt ended.
//!
//! Queue order: retries first, then `high`, `auto`, `low` priority; first come, first served
//! within a level. No call starves: a call that has waited `aging` (default: one window) rises
//! one level per such wait, so a `low` call waits at most two agings before it competes as
//! `high`, and then it is older than every `high` call that arrived since.

use std::collections::{BTreeMap, BTreeSet};

use super::backoff::{Backoff, Rng};
use super::breaker::{Breaker, BreakerState, RetryBudget};
use super::retry::{Decision, GiveUpReason, Outcome, RetryPolicy};
use super::share::ShareLearner;
use super::signals::Signals;
use super::window::{Acquire, Limiter, SlotId, Window};
use super::Millis;

/// Everything the scheduler needs to know, validated (see [`super::options`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `(limit, window_ms)` rules that must all admit a request. Default: 200 per 60 s.
    pub windows: Vec<(u32, Millis)>,
    /// Added to every settle time, for clock granularity between us and the server. Default 1 ms.
    pub margin: Millis,
    /// When and how to retry.
    pub retry: RetryPolicy,
    /// Consecutive 429s that open the breaker (0: never). Default 3.
    pub breaker_threshold: u32,
    /// How long the breaker stays open first. Default: the longest window.
    pub breaker_cooldown: Millis,
    /// Retry budget size (0: unlimited). Default 20.
    pub budget_tokens: f64,
    /// Tokens earned back per good answer. Default 0.1.
    pub budget_ratio: f64,
    /// At most this many requests in flight at once (0: no bound beyond the windows).
    pub max_concurrent: u32,
    /// At most this many calls waiting (0: unbounded).
    pub max_queue: u32,
    /// Reject a call at once if it could not be sent within this long (0: wait as needed).
    pub max_wait: Millis,
    /// Even spacing: at least this long between two sends (0: bursts up to the limit).
    pub min_interval: Millis,
    /// How long a waiting call takes to rise one priority level. Default: the longest window.
    pub aging: Millis,
    /// Learn the share left by hidden consumers from 429s (default on).
    pub learn_share: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            windows: vec![(200, 60_000)],
            margin: 1,
            retry: RetryPolicy::default(),
            breaker_threshold: 3,
            breaker_cooldown: 60_000,
            budget_tokens: 20.0,
            budget_ratio: 0.1,
            max_concurrent: 0,
            max_queue: 0,
            max_wait: 0,
            min_interval: 0,
            aging: 60_000,
            learn_share: true,
        }
    }
}

/// A call's priority (the fetch `priority` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Priority {
    /// Ahead of `auto` and `low`.
    High,
    /// The default.
    #[default]
    Auto,
    /// Behind the others, but never starved.
    Low,
}

impl Priority {
    /// Parses `"high" | "auto" | "low"`.
    pub fn parse(name: &str) -> Option<Priority> {
        match name {
            "high" => Some(Priority::High),
            "auto" => Some(Priority::Auto),
            "low" => Some(Priority::Low),
            _ => None,
        }
    }

    fn level(self) -> u8 {
        match self {
            Priority::High => 1,
            Priority::Auto => 2,
            Priority::Low => 3,
        }
    }
}

/// Queue level of retries: ahead of every priority.
const RETRY: u8 = 0;

/// A queued call's place in line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// Per-call state the caller keeps between attempts.
#[derive(Debug, Clone)]
pub struct Call {
    /// Attempts made so far.
    pub attempt: u32,
    backoff: Backoff,
}

/// Why a call was not queued, or was dropped from the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// `max_queue` calls are already waiting.
    QueueFull {
        /// The configured bound.
        max_queue: u32,
    },
    /// The call could not be sent before `max_wait` passed; it could be sent at `retry_at`
    /// (as far as we can tell now; `None`: unknown, after requests in flight complete).
    WouldWait {
        /// The earliest known send time.
        retry_at: Option<Millis>,
    },
}

/// The result of [`Scheduler::poll`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Poll {
    /// Calls that may send now, each with its slot.
    pub granted: Vec<(Ticket, SlotId)>,
    /// When to poll again if nothing else happens (`None`: only a new call or a settle can help).
    pub wake_at: Option<Millis>,
    /// Set when a pause ended during this poll.
    pub resumed: bool,
    /// Waiting calls whose `max_wait` ran out before they could be sent (dropped from the
    /// queue), and the earliest send time known for a call now (`None`: unknown).
    pub expired: Vec<Ticket>,
    /// When a call could be sent, as far as is known now, for the expired calls' error.
    pub expired_retry_at: Option<Millis>,
}

/// Counters and the current view, for `stats()`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Slots counted in the tightest window now (in flight + settled within the window).
    pub in_window: u32,
    /// The tightest window's limit as we apply it now (lowered when we learned others spend it).
    pub limit: u32,
    /// Requests in flight.
    pub in_flight: u32,
    /// Calls waiting to be sent (including those waiting out a retry delay).
    pub queued: u32,
    /// Requests that could be sent now before a window is full.
    pub remaining: u32,
    /// Milliseconds until the next request could go (0: now).
    pub next_slot_in: Millis,
    /// Milliseconds of pause left after a 429 (0: not paused).
    pub paused_for: Millis,
    /// Attempts sent, retries included.
    pub sent: u64,
    /// Retries scheduled.
    pub retried: u64,
    /// 429 answers received.
    pub rate_limited: u64,
    /// Calls rejected or dropped because of `max_queue` or `max_wait`.
    pub dropped: u64,
    /// The breaker's state.
    pub breaker: BreakerState,
}

/// What [`Scheduler::complete`] concluded, for the caller and its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Retry (then call [`Scheduler::enqueue_retry`]) or give up.
    pub decision: Decision,
    /// Set when this answer paused the whole budget, until then.
    pub paused_until: Option<Millis>,
    /// Set when this answer opened the breaker.
    pub breaker_opened: bool,
    /// Set when this answer closed the breaker.
    pub breaker_closed: bool,
    /// Waiting calls dropped because the new pause outlasts their `max_wait`.
    pub dropped: Vec<Ticket>,
}

/// The queue, windows, pause, breaker and budget of one throttle (one budget).
#[derive(Debug)]
pub struct Scheduler {
    config: Config,
    limiter: Limiter,
    breaker: Breaker,
    budget: RetryBudget,
    /// Learns the share of the longest window (the one the server's quota usually matches).
    share: Option<(usize, ShareLearner)>,
    rng: Rng,
    paused_until: Millis,
    pause_reported: bool,
    /// Waiting calls: `(level, ticket) → enqueued at`.
    queue: BTreeMap<(u8, u64), Millis>,
    /// Retries waiting for their time: `(not_before, ticket)`.
    delayed: BTreeSet<(Millis, u64)>,
    last_sent: Option<Millis>,
    /// A cap on the longest window while a shared store is unreachable.
    fallback: Option<u32>,
    next_ticket: u64,
    sent: u64,
    retried: u64,
    rate_limited: u64,
    dropped: u64,
}

impl Scheduler {
    /// A scheduler for `config`; `seed` drives backoff jitter.
    pub fn new(config: Config, seed: u64) -> Self {
        let windows = config.windows.iter().map(|&(l, w)| Window::new(l, w)).collect();
        let longest = config
            .windows
            .iter()
            .enumerate()
            .max_by_key(|(_, &(_, w))| w)
            .map(|(i, &(l, w))| (i, ShareLearner::new(l, w)));
        Scheduler {
            limiter: Limiter::new(windows),
            breaker: Breaker::new(config.breaker_threshold, config.breaker_cooldown),
            budget: RetryBudget::new(config.budget_tokens, config.budget_ratio),
            share: if config.learn_share { longest } else { None },
            rng: Rng::new(seed),
            paused_until: 0,
            pause_reported: false,
            queue: BTreeMap::new(),
            delayed: BTreeSet::new(),
            last_sent: None,
            fallback: None,
            next_ticket: 0,
            sent: 0,
            retried: 0,
            rate_limited: 0,
            dropped: 0,
            config,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Starts a call at `now`: checks `max_queue` and `max_wait`, then returns its ticket and
    /// per-call state (backoff).
    pub fn enqueue(&mut self, priority: Priority, now: Millis) -> Result<(Ticket, Call), Rejection> {
        let waiting = self.queue.len() + self.delayed.len();
        if self.config.max_queue > 0 && waiting >= self.config.max_queue as usize {
            self.dropped = self.dropped.saturating_add(1);
            return Err(Rejection::QueueFull { max_queue: self.config.max_queue });
        }
        if self.config.max_wait > 0 {
            let ahead = self.queue.keys().filter(|&&(level, _)| level <= priority.level()).count();
            let deadline = now.saturating_add(self.config.max_wait);
            match self.earliest_send(now, ahead) {
                Some(at) if at <= deadline => {}
                retry_at => {
                    self.dropped = self.dropped.saturating_add(1);
                    return Err(Rejection::WouldWait { retry_at });
                }
            }
        }
        let ticket = self.new_ticket();
        self.queue.insert((priority.level(), ticket.0), now);
        let backoff = self.config.retry.backoff.delays(Rng::new(self.rng.next_u64()));
        Ok((ticket, Call { attempt: 0, backoff }))
    }

    /// When a call with `ahead` calls before it could be sent, as far as is known at `now`.
    fn earliest_send(&mut self, now: Millis, ahead: usize) -> Option<Millis> {
        let mut at = self.limiter.nth_free(now, ahead)?;
        at = at.max(self.paused_until);
        if let Err(until) = self.breaker.admits(now) {
            if until == Millis::MAX {
                return None;
            }
            at = at.max(until);
        }
        if self.config.min_interval > 0 {
            let spacing = self.config.min_interval.saturating_mul(ahead as u64);
            let first = self.last_sent.map_or(now, |t| t.saturating_add(self.config.min_interval));
            at = at.max(first.saturating_add(spacing));
        }
        Some(at)
    }

    /// Queues the next attempt of a call that should retry, not before `at`. Retries go ahead
    /// of new calls once their time has come.
    pub fn enqueue_retry(&mut self, at: Millis, now: Millis) -> Ticket {
        let ticket = self.new_ticket();
        if at <= now {
            self.queue.insert((RETRY, ticket.0), now);
        } else {
            self.delayed.insert((at, ticket.0));
        }
        ticket
    }

    fn new_ticket(&mut self) -> Ticket {
        self.next_ticket = self.next_ticket.wrapping_add(1);
        Ticket(self.next_ticket)
    }

    /// Removes a waiting call (aborted before it was sent). Returns `false` if it was not
    /// waiting (already granted, or unknown).
    pub fn cancel(&mut self, ticket: Ticket) -> bool {
        for level in RETRY..=Priority::Low.level() {
            if self.queue.remove(&(level, ticket.0)).is_some() {
                return true;
            }
        }
        let found = self.delayed.iter().find(|&&(_, t)| t == ticket.0).copied();
        match found {
            Some(entry) => self.delayed.remove(&entry),
            None => false,
        }
    }

    /// The next call in line at `now`: the lowest effective level (its level minus one per
    /// `aging` waited, but never ahead of retries), oldest first.
    fn next_in_line(&self, now: Millis) -> Option<(u8, u64)> {
        let mut best: Option<((u8, u64), (u8, u64))> = None;
        for level in RETRY..=Priority::Low.level() {
            let Some((&key, &since)) = self.queue.range((level, 0)..=(level, u64::MAX)).next() else { continue };
            let risen = if level == RETRY || self.config.aging == 0 {
                0
            } else {
                (now.saturating_sub(since) / self.config.aging).min(u64::from(level - 1)) as u8
            };
            let rank = (level - risen, key.1);
            if best.is_none_or(|(r, _)| rank < r) {
                best = Some((rank, key));
            }
        }
        best.map(|(_, key)| key)
    }

    /// Grants every call that may send at `now`, in queue order, and says when to look again.
    pub fn poll(&mut self, now: Millis) -> Poll {
        let mut poll = Poll::default();
        if self.pause_reported && now >= self.paused_until {
            self.pause_reported = false;
            poll.resumed = true;
        }
        if self.share.as_mut().is_some_and(|(_, learner)| learner.tick(now)) {
            self.apply_effective();
        }
        while let Some(&(at, t)) = self.delayed.first() {
            if at > now {
                break;
            }
            self.delayed.remove(&(at, t));
            self.queue.insert((RETRY, t), at);
        }
        while let Some(key) = self.next_in_line(now) {
            if self.config.max_concurrent > 0 && self.limiter.in_flight() as u32 >= self.config.max_concurrent {
                break;
            }
            if now < self.paused_until {
                poll.wake_at = Some(self.paused_until);
                break;
            }
            if let Err(until) = self.breaker.admits(now) {
                if until != Millis::MAX {
                    poll.wake_at = Some(until);
                }
                break;
            }
            if let Some(last) = self.last_sent {
                let next = last.saturating_add(self.config.min_interval);
                if self.config.min_interval > 0 && now < next {
                    poll.wake_at = Some(next);
                    break;
                }
            }
            match self.limiter.try_acquire(now) {
                Acquire::Granted(slot) => {
                    self.queue.remove(&key);
                    self.breaker.on_send(now);
                    self.sent = self.sent.saturating_add(1);
                    self.last_sent = Some(now);
                    poll.granted.push((Ticket(key.1), slot));
                }
                Acquire::WaitUntil(at) => {
                    poll.wake_at = Some(at);
                    break;
                }
                Acquire::WaitForSettle => break,
            }
        }
        if let Some(&(at, _)) = self.delayed.first() {
            poll.wake_at = Some(poll.wake_at.map_or(at, |w| w.min(at)));
        }
        if let Some(deadline) = self.expire(now, &mut poll) {
            // Look again just after the next deadline, to reject that call if it is still here.
            let at = deadline.saturating_add(1);
            poll.wake_at = Some(poll.wake_at.map_or(at, |w| w.min(at)));
        }
        if self.pause_reported {
            poll.wake_at = Some(poll.wake_at.map_or(self.paused_until, |w| w.min(self.paused_until)));
        }
        poll
    }

    /// Drops the waiting calls whose `max_wait` ran out before `now` into `poll.expired`, and
    /// returns the earliest deadline of those still waiting.
    fn expire(&mut self, now: Millis, poll: &mut Poll) -> Option<Millis> {
        let next = self.drop_due(now, &mut poll.expired);
        if !poll.expired.is_empty() {
            poll.expired_retry_at = self.earliest_send(now, 0);
        }
        next
    }

    /// Drops the waiting calls (not retries) whose `max_wait` ends before `before` into
    /// `dropped`, and returns the earliest deadline of those left. Within a level calls wait in
    /// arrival order, so only the head of each level needs a look.
    fn drop_due(&mut self, before: Millis, dropped: &mut Vec<Ticket>) -> Option<Millis> {
        if self.config.max_wait == 0 {
            return None;
        }
        let max_wait = self.config.max_wait;
        let count = dropped.len();
        let mut next: Option<Millis> = None;
        for level in Priority::High.level()..=Priority::Low.level() {
            while let Some((&key, &since)) = self.queue.range((level, 0)..=(level, u64::MAX)).next() {
                let deadline = since.saturating_add(max_wait);
                if deadline >= before {
                    next = Some(next.map_or(deadline, |n| n.min(deadline)));
                    break;
                }
                self.queue.remove(&key);
                dropped.push(Ticket(key.1));
            }
        }
        self.dropped = self.dropped.saturating_add((dropped.len() - count) as u64);
        next
    }

    /// Sets the longest window's effective limit from what we learned and the store fallback.
    fn apply_effective(&mut self) {
        let index = self.longest_window();
        let learned = self.share.as_ref().map(|(_, l)| l.effective());
        if let Some(w) = self.limiter.windows_mut().get_mut(index) {
            let cap = learned.unwrap_or(u32::MAX).min(self.fallback.unwrap_or(u32::MAX));
            w.set_effective(cap);
        }
    }

    fn longest_window(&self) -> usize {
        self.config.windows.iter().enumerate().max_by_key(|(_, &(_, w))| w).map_or(0, |(i, _)| i)
    }

    /// Caps the longest window at `limit` requests (`None` lifts the cap): the conservative
    /// local limiter used while a shared store is unreachable.
    pub fn set_fallback(&mut self, limit: Option<u32>) {
        self.fallback = limit;
        self.apply_effective();
    }

    /// Sends nothing before `until` (a shared store said the budget is full or paused until
    /// then). Unlike a 429's pause it is not reported as one.
    pub fn hold_until(&mut self, until: Millis) {
        self.paused_until = self.paused_until.max(until);
    }

    /// Gives back a granted slot whose request was never sent (its call was aborted between the
    /// grant and the send): it is released without occupying the window.
    pub fn revoke(&mut self, slot: SlotId, now: Millis) -> bool {
        if !self.limiter.revoke(slot) {
            return false;
        }
        self.sent = self.sent.saturating_sub(1);
        self.breaker.on_no_answer(now);
        true
    }

    /// Reports how an attempt ended at `now`: settles its slot, updates the pause, breaker,
    /// budget and learned share, and decides whether the call retries. `signals` come from the
    /// response headers.
    pub fn complete(
        &mut self,
        call: &mut Call,
        slot: SlotId,
        now: Millis,
        outcome: Outcome,
        signals: &Signals,
        method: &str,
    ) -> Completion {
        // What of ours the server had counted when it answered, this request included.
        let ours = self.share.as_ref().map(|&(i, _)| i).and_then(|i| {
            let used = self.limiter.windows_mut().get_mut(i).map(|w| w.used(now))?;
            Some(used)
        });
        self.limiter.settle(slot, now.saturating_add(self.config.margin));
        call.attempt = call.attempt.saturating_add(1);
        let mut completion = Completion {
            decision: Decision::GiveUp { reason: GiveUpReason::Final },
            paused_until: None,
            breaker_opened: false,
            breaker_closed: false,
            dropped: Vec::new(),
        };
        let backoff = &mut call.backoff;
        let mut drawn = None;
        let decision = self.config.retry.decide(outcome, signals, call.attempt, now, method, || {
            let d = backoff.next().unwrap_or(0);
            drawn = Some(d);
            d
        });
        match outcome {
            Outcome::Status(429) => {
                self.rate_limited = self.rate_limited.saturating_add(1);
                completion.breaker_opened = self.breaker.on_rate_limited(now);
                if let (Some((_, learner)), Some(ours)) = (&mut self.share, ours) {
                    learner.on_rate_limited(now, ours);
                    self.apply_effective();
                }
                // The whole budget pauses, not only this call: until the server's time (capped,
                // so a hostile server cannot park us forever), else for a backoff delay.
                let wait = match signals.server_wait_ms() {
                    Some(w) => w.min(self.config.retry.max_retry_after),
                    None => {
                        let d = match drawn {
                            Some(d) => d,
                            None => call.backoff.next().unwrap_or(0),
                        };
                        // No timing at all: the server's window is full as far as we can
                        // tell, and the newest request in it may be as new as now.
                        let longest = self.config.windows.iter().map(|&(_, w)| w).max().unwrap_or(0);
                        self.limiter.fill_until(now, now.saturating_add(longest));
                        d
                    }
                };
                let until = now.saturating_add(wait);
                if until > self.paused_until {
                    self.paused_until = until;
                    self.pause_reported = true;
                    completion.paused_until = Some(until);
                    completion.dropped = self.drop_outlasted(until);
                }
            }
            Outcome::Status(status) => {
                completion.breaker_closed = self.breaker.on_success(now);
                // Only answers that would not be retried refill the retry budget.
                if !self.config.retry.status_codes.contains(&status) {
                    self.budget.on_success();
                }
                self.apply_feedback(now, signals);
            }
            Outcome::NetworkError | Outcome::Aborted => self.breaker.on_no_answer(now),
        }
        completion.decision = match decision {
            Decision::Retry { .. } if !self.budget.try_spend() => {
                Decision::GiveUp { reason: GiveUpReason::BudgetExhausted }
            }
            Decision::Retry { .. } => {
                self.retried = self.retried.saturating_add(1);
                decision
            }
            other => other,
        };
        completion
    }

    /// The server says how many requests remain until its reset: if that is fewer than we think
    /// (others spend the same budget), use no more than that until the reset. Requests of ours
    /// still in flight may not have been counted by the server yet, so they come off too.
    fn apply_feedback(&mut self, now: Millis, signals: &Signals) {
        let (Some(remaining), Some(reset)) = (signals.remaining, signals.reset_ms) else { return };
        let reset = reset.min(self.config.retry.max_retry_after);
        let in_flight = self.limiter.in_flight() as u64;
        let left = remaining.saturating_sub(in_flight).min(u64::from(u32::MAX)) as u32;
        self.limiter.sync_remaining(now, left, now.saturating_add(reset).saturating_add(self.config.margin));
    }

    /// Drops waiting calls whose `max_wait` ends before `until` (a pause they cannot outlast).
    fn drop_outlasted(&mut self, until: Millis) -> Vec<Ticket> {
        let mut doomed = Vec::new();
        self.drop_due(until, &mut doomed);
        doomed
    }

    /// Counters and the current view at `now`.
    pub fn stats(&mut self, now: Millis) -> Stats {
        let (in_window, limit) = self.limiter.usage(now);
        let remaining = self.limiter.remaining(now);
        let next = self.earliest_send(now, 0).unwrap_or(now);
        Stats {
            in_window,
            limit,
            in_flight: self.limiter.in_flight() as u32,
            queued: (self.queue.len() + self.delayed.len()) as u32,
            remaining,
            next_slot_in: next.saturating_sub(now),
            paused_for: self.paused_until.saturating_sub(now),
            sent: self.sent,
            retried: self.retried,
            rate_limited: self.rate_limited,
            dropped: self.dropped,
            breaker: self.breaker.state(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::backoff::{BackoffPolicy, Jitter};

    fn add(s: &mut Scheduler) -> (Ticket, Call) {
        s.enqueue(Priority::Auto, 0).unwrap()
    }

    fn config(limit: u32, window: Millis) -> Config {
        let mut c = Config { windows: vec![(limit, window)], margin: 0, learn_share: false, ..Config::default() };
        c.retry.backoff = BackoffPolicy::default().with_base(100).with_jitter(Jitter::None);
        c.breaker_cooldown = window;
        c
    }

    #[test]
    fn grants_in_order_and_waits_for_settle() {
        let mut s = Scheduler::new(config(2, 1_000), 1);
        let (a, _) = add(&mut s);
        let (b, _) = add(&mut s);
        let (c, _) = add(&mut s);
        let p = s.poll(0);
        assert_eq!(p.granted.iter().map(|g| g.0).collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(p.wake_at, None);
        assert!(s.cancel(c));
        assert!(!s.cancel(c));
        assert_eq!(s.stats(0).queued, 0);
    }

    #[test]
    fn a_429_with_retry_after_pauses_everyone() {
        let mut s = Scheduler::new(config(10, 1_000), 1);
        let (_, mut call) = add(&mut s);
        let slot = s.poll(0).granted[0].1;
        add(&mut s);
        let sig = Signals { retry_after_ms: Some(2_000), ..Signals::default() };
        let done = s.complete(&mut call, slot, 10, Outcome::Status(429), &sig, "GET");
        assert_eq!(done.decision, Decision::Retry { at: 2_010, server_given: true });
        assert_eq!(done.paused_until, Some(2_010));
        let p = s.poll(20);
        assert!(p.granted.is_empty());
        assert_eq!(p.wake_at, Some(2_010));
        s.enqueue_retry(2_010, 20);
        let p = s.poll(2_010);
        assert_eq!(p.granted.len(), 2);
        // The retry went first.
        assert!(p.granted[0].0 > p.granted[1].0);
    }

    #[test]
    fn a_bare_429_fills_the_window_and_backs_off() {
        let mut s = Scheduler::new(config(5, 1_000), 1);
        let (_, mut call) = add(&mut s);
        let slot = s.poll(0).granted[0].1;
        let done = s.complete(&mut call, slot, 10, Outcome::Status(429), &Signals::default(), "POST");
        assert_eq!(done.decision, Decision::Retry { at: 110, server_given: false });
        assert_eq!(done.paused_until, Some(110));
        s.enqueue_retry(110, 10);
        // The window is treated as full until 10 + 1000.
        let p = s.poll(110);
        assert!(p.granted.is_empty());
        assert_eq!(p.wake_at, Some(1_010));
        assert_eq!(s.poll(1_010).granted.len(), 1);
    }

    #[test]
    fn breaker_opens_after_three_429s_and_probes_once() {
        let mut s = Scheduler::new(config(10, 1_000), 1);
        let sig = Signals { retry_after_ms: Some(0), ..Signals::default() };
        let mut opened = false;
        for i in 0..3 {
            let (_, mut call) = add(&mut s);
            let slot = s.poll(i).granted[0].1;
            opened = s.complete(&mut call, slot, i, Outcome::Status(429), &sig, "GET").breaker_opened;
        }
        assert!(opened);
        add(&mut s);
        add(&mut s);
        assert_eq!(s.poll(500).granted.len(), 0);
        // Cooldown ends at 2 + 1000: exactly one probe.
        assert_eq!(s.poll(1_002).granted.len(), 1);
        assert_eq!(s.poll(1_003).granted.len(), 0);
        assert_eq!(s.stats(1_003).breaker, BreakerState::HalfOpen { probing: true });
    }

    #[test]
    fn a_revoked_slot_does_not_count() {
        let mut s = Scheduler::new(config(1, 1_000), 1);
        add(&mut s);
        let slot = s.poll(0).granted[0].1;
        assert!(s.revoke(slot, 1));
        assert!(!s.revoke(slot, 1));
        add(&mut s);
        assert_eq!(s.poll(2).granted.len(), 1);
        assert_eq!(s.stats(2).sent, 1);
    }

    #[test]
    fn max_concurrent_bounds_flight() {
        let mut c = config(100, 1_000);
        c.max_concurrent = 2;
        let mut s = Scheduler::new(c, 1);
        for _ in 0..5 {
            add(&mut s);
        }
        assert_eq!(s.poll(0).granted.len(), 2);
        assert_eq!(s.stats(0).queued, 3);
    }

    #[test]
    fn delayed_retry_is_woken_and_cancellable() {
        let mut s = Scheduler::new(config(100, 1_000), 1);
        let t = s.enqueue_retry(500, 0);
        assert_eq!(s.poll(0).wake_at, Some(500));
        assert!(s.cancel(t));
        assert_eq!(s.poll(600), Poll::default());
    }

    #[test]
    fn budget_stops_retry_storms() {
        let mut c = config(1_000, 1_000);
        c.budget_tokens = 4.0;
        c.breaker_threshold = 0;
        let mut s = Scheduler::new(c, 1);
        let mut given_up = 0;
        for i in 0..5 {
            let (_, mut call) = add(&mut s);
            let slot = s.poll(i).granted[0].1;
            let d = s.complete(&mut call, slot, i, Outcome::Status(503), &Signals::default(), "GET").decision;
            if d == (Decision::GiveUp { reason: GiveUpReason::BudgetExhausted }) {
                given_up += 1;
            }
        }
        assert_eq!(given_up, 4);
    }

    #[test]
    fn priorities_order_the_queue_fifo_within_a_level() {
        let mut s = Scheduler::new(config(1, 1_000), 1);
        let (first, mut c) = s.enqueue(Priority::Auto, 0).unwrap();
        let slot = s.poll(0).granted[0].1;
        let low = s.enqueue(Priority::Low, 1).unwrap().0;
        let auto1 = s.enqueue(Priority::Auto, 2).unwrap().0;
        let high1 = s.enqueue(Priority::High, 3).unwrap().0;
        let auto2 = s.enqueue(Priority::Auto, 4).unwrap().0;
        let high2 = s.enqueue(Priority::High, 5).unwrap().0;
        assert_eq!(first.0, 1);
        s.complete(&mut c, slot, 10, Outcome::Status(200), &Signals::default(), "GET");
        let mut order = Vec::new();
        let mut now = 10;
        while order.len() < 5 {
            let granted = s.poll(now).granted;
            for (t, slot) in granted {
                order.push(t);
                let mut call = s.enqueue(Priority::Auto, now).map(|(t2, c)| { s.cancel(t2); c }).unwrap();
                s.complete(&mut call, slot, now, Outcome::Status(200), &Signals::default(), "GET");
            }
            now += 100;
        }
        // Aging is one window (1000 ms): the first three grants come before anyone has aged.
        assert_eq!(&order[..3], &[high1, high2, auto1]);
        assert!(order.contains(&auto2) && order.contains(&low));
    }

    #[test]
    fn a_low_call_is_not_starved_by_a_stream_of_high_ones() {
        let mut c = config(1, 100);
        c.aging = 100;
        let mut s = Scheduler::new(c, 1);
        let low = s.enqueue(Priority::Low, 0).unwrap().0;
        let mut now = 0;
        let mut served_low_at = None;
        // Every 10 ms a new high-priority call arrives; one slot per 100 ms.
        for step in 0..100u64 {
            now = step * 10;
            s.enqueue(Priority::High, now).unwrap();
            for (t, slot) in s.poll(now).granted {
                if t == low {
                    served_low_at = Some(now);
                }
                let mut call = s.enqueue(Priority::Auto, now).map(|(t2, c)| { s.cancel(t2); c }).unwrap();
                s.complete(&mut call, slot, now, Outcome::Status(200), &Signals::default(), "GET");
            }
            if served_low_at.is_some() {
                break;
            }
        }
        // Two agings (200 ms) make it rank with high calls, and it is older than all of them.
        let at = served_low_at.expect("the low call was served");
        assert!(at <= 300, "served at {at}");
        assert!(now < 1_000);
    }

    #[test]
    fn max_queue_rejects_beyond_the_bound() {
        let mut c = config(1, 1_000);
        c.max_queue = 2;
        let mut s = Scheduler::new(c, 1);
        s.enqueue(Priority::Auto, 0).unwrap();
        s.enqueue(Priority::Auto, 0).unwrap();
        assert_eq!(s.enqueue(Priority::Auto, 0).unwrap_err(), Rejection::QueueFull { max_queue: 2 });
        // Once one is granted, there is room again.
        assert_eq!(s.poll(0).granted.len(), 1);
        assert!(s.enqueue(Priority::Auto, 0).is_ok());
        assert_eq!(s.stats(0).dropped, 1);
    }

    #[test]
    fn max_wait_rejects_calls_that_could_not_go_in_time() {
        let mut c = config(2, 1_000);
        c.max_wait = 500;
        let mut s = Scheduler::new(c, 1);
        let (_, mut a) = s.enqueue(Priority::Auto, 0).unwrap();
        let (_, mut b) = s.enqueue(Priority::Auto, 0).unwrap();
        let g = s.poll(0).granted;
        // While both are in flight, the next slot frees a window after one completes: ≥ 1000.
        assert_eq!(s.enqueue(Priority::Auto, 0).unwrap_err(), Rejection::WouldWait { retry_at: Some(1_000) });
        s.complete(&mut a, g[0].1, 100, Outcome::Status(200), &Signals::default(), "GET");
        s.complete(&mut b, g[1].1, 700, Outcome::Status(200), &Signals::default(), "GET");
        // Next slot frees at 1100: too far from 200 (max 700).
        assert_eq!(s.enqueue(Priority::Auto, 200).unwrap_err(), Rejection::WouldWait { retry_at: Some(1_100) });
        // From 600 it is within reach; the one after it (1700) is not.
        assert!(s.enqueue(Priority::Auto, 600).is_ok());
        assert_eq!(s.enqueue(Priority::Auto, 600).unwrap_err(), Rejection::WouldWait { retry_at: Some(1_700) });
    }

    #[test]
    fn max_wait_expires_calls_stuck_behind_max_concurrent() {
        let mut c = config(10, 1_000);
        c.max_wait = 500;
        c.max_concurrent = 1;
        let mut s = Scheduler::new(c, 1);
        let (_, mut a) = s.enqueue(Priority::Auto, 0).unwrap();
        let slot = s.poll(0).granted[0].1;
        // The window has room, so these are accepted; only the concurrency bound holds them.
        let (late, _) = s.enqueue(Priority::Low, 100).unwrap();
        let (early, _) = s.enqueue(Priority::High, 200).unwrap();
        let p = s.poll(200);
        assert_eq!((p.granted.len(), p.wake_at, p.expired.len()), (0, Some(601), 0));
        // At a deadline exactly, a call still waits; just after it, it is dropped.
        assert!(s.poll(600).expired.is_empty());
        let p = s.poll(601);
        assert_eq!(p.expired, vec![late]);
        assert_eq!(p.wake_at, Some(701));
        assert_eq!(s.stats(601).dropped, 1);
        // A call that gets its slot in time is granted, not expired.
        s.complete(&mut a, slot, 650, Outcome::Status(200), &Signals::default(), "GET");
        let p = s.poll(650);
        assert_eq!((p.granted.len(), p.granted[0].0, p.expired.len()), (1, early, 0));
        assert_eq!(s.stats(650).queued, 0);
    }

    #[test]
    fn without_max_wait_nothing_expires() {
        let mut c = config(10, 1_000);
        c.max_concurrent = 1;
        let mut s = Scheduler::new(c, 1);
        s.enqueue(Priority::Auto, 0).unwrap();
        s.enqueue(Priority::Auto, 0).unwrap();
        assert_eq!(s.poll(0).granted.len(), 1);
        let p = s.poll(1_000_000);
        assert_eq!((p.expired.len(), p.wake_at), (0, None));
    }

    #[test]
    fn a_pause_drops_waiting_calls_it_outlasts() {
        let mut c = config(10, 1_000);
        c.max_wait = 1_000;
        let mut s = Scheduler::new(c, 1);
        let (_, mut call) = s.enqueue(Priority::Auto, 0).unwrap();
        let slot = s.poll(0).granted[0].1;
        c_wait(&mut s);
        let sig = Signals { retry_after_ms: Some(5_000), ..Signals::default() };
        let done = s.complete(&mut call, slot, 10, Outcome::Status(429), &sig, "GET");
        assert_eq!(done.dropped.len(), 3);
        assert_eq!(s.stats(10).queued, 0);
    }

    fn c_wait(s: &mut Scheduler) {
        // Fill the window so these three wait (limit 10, one in flight): pause them by hand.
        s.paused_until = 100;
        for _ in 0..3 {
            s.enqueue(Priority::Auto, 0).unwrap();
        }
        s.paused_until = 0;
    }

    #[test]
    fn fallback_caps_and_lifts() {
        let mut s = Scheduler::new(config(10, 1_000), 1);
        s.set_fallback(Some(3));
        for _ in 0..5 {
            s.enqueue(Priority::Auto, 0).unwrap();
        }
        assert_eq!(s.poll(0).granted.len(), 3);
        s.set_fallback(None);
        assert_eq!(s.poll(1).granted.len(), 2);
        s.hold_until(500);
        s.enqueue(Priority::Auto, 2).unwrap();
        let p = s.poll(2);
        assert_eq!((p.granted.len(), p.wake_at), (0, Some(500)));
        assert_eq!(s.poll(500).granted.len(), 1);
    }

    #[test]
    fn max_wait_accepts_a_call_that_can_go_a_window_after_flights_complete() {
        let mut c = config(2, 1_000);
        c.max_wait = 5_000;
        let mut s = Scheduler::new(c, 1);
        s.enqueue(Priority::Auto, 0).unwrap();
        s.enqueue(Priority::Auto, 0).unwrap();
        assert_eq!(s.poll(0).granted.len(), 2);
        assert!(s.enqueue(Priority::Auto, 0).is_ok());
        assert_eq!(s.stats(0).next_slot_in, 1_000);
    }

    #[test]
    fn pacing_spaces_sends_evenly() {
        let mut c = config(100, 1_000);
        c.min_interval = 50;
        let mut s = Scheduler::new(c, 1);
        for _ in 0..3 {
            s.enqueue(Priority::Auto, 0).unwrap();
        }
        let p = s.poll(0);
        assert_eq!((p.granted.len(), p.wake_at), (1, Some(50)));
        assert_eq!(s.poll(49).granted.len(), 0);
        assert_eq!(s.poll(50).granted.len(), 1);
        assert_eq!(s.poll(100).granted.len(), 1);
    }

    #[test]
    fn server_feedback_lowers_what_we_send_until_its_reset() {
        let mut s = Scheduler::new(config(100, 60_000), 1);
        let (_, mut call) = s.enqueue(Priority::Auto, 0).unwrap();
        let slot = s.poll(0).granted[0].1;
        let sig = Signals { remaining: Some(3), reset_ms: Some(10_000), ..Signals::default() };
        s.complete(&mut call, slot, 100, Outcome::Status(200), &sig, "GET");
        for _ in 0..10 {
            s.enqueue(Priority::Auto, 100).unwrap();
        }
        assert_eq!(s.poll(100).granted.len(), 3);
        assert_eq!(s.poll(10_000).granted.len(), 0);
        assert_eq!(s.poll(10_101).granted.len(), 7);
    }

    #[test]
    fn a_429_teaches_the_share_left_by_hidden_consumers() {
        let mut c = config(10, 1_000);
        c.learn_share = true;
        c.breaker_threshold = 0;
        let mut s = Scheduler::new(c, 1);
        let mut calls = Vec::new();
        for _ in 0..4 {
            calls.push(s.enqueue(Priority::Auto, 0).unwrap().1);
        }
        let slots: Vec<_> = s.poll(0).granted.into_iter().map(|g| g.1).collect();
        for (call, slot) in calls.iter_mut().zip(&slots).take(3) {
            s.complete(call, *slot, 10, Outcome::Status(200), &Signals::default(), "GET");
        }
        let sig = Signals { retry_after_ms: Some(0), ..Signals::default() };
        s.complete(&mut calls[3], slots[3], 10, Outcome::Status(429), &sig, "GET");
        // The server accepted three of ours; one 429 at most halves the limit: 5.
        assert_eq!(s.stats(10).limit, 5);
        assert_eq!(s.stats(2_000).limit, 5);
        // After four quiet windows it probes upwards.
        s.poll(4_010);
        assert_eq!(s.stats(4_010).limit, 6);
    }
}
