//! The throttle's brain: a queue of calls, the rolling windows, the shared pause, the breaker and
//! the retry budget, driven by `now` arguments. The caller (the Wasm layer, or a test with a fake
//! clock) enqueues calls, polls for grants, sends, and reports how each attempt ended.

use std::collections::BTreeSet;

use super::backoff::{Backoff, Rng};
use super::breaker::{Breaker, BreakerState, RetryBudget};
use super::retry::{Decision, GiveUpReason, Outcome, RetryPolicy};
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
        }
    }
}

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

/// The result of [`Scheduler::poll`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Poll {
    /// Calls that may send now, each with its slot.
    pub granted: Vec<(Ticket, SlotId)>,
    /// When to poll again if nothing else happens (`None`: only a new call or a settle can help).
    pub wake_at: Option<Millis>,
}

/// Counters and the current view, for `stats()`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Slots counted in the tightest window now (in flight + settled within the window).
    pub in_window: u32,
    /// The tightest window's limit.
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
    /// The breaker's state.
    pub breaker: BreakerState,
}

/// What [`Scheduler::complete`] concluded, for the caller and its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    /// Retry (then call [`Scheduler::enqueue_retry`]) or give up.
    pub decision: Decision,
    /// Set when this answer paused the whole budget, until then.
    pub paused_until: Option<Millis>,
    /// Set when this answer opened the breaker.
    pub breaker_opened: bool,
    /// Set when this answer closed the breaker.
    pub breaker_closed: bool,
}

/// The queue, windows, pause, breaker and budget of one throttle (one budget).
#[derive(Debug)]
pub struct Scheduler {
    config: Config,
    limiter: Limiter,
    breaker: Breaker,
    budget: RetryBudget,
    rng: Rng,
    paused_until: Millis,
    /// Ready calls in order: retries (class 0) before new calls (class 1), then first come.
    queue: BTreeSet<(u8, u64)>,
    /// Retries waiting for their time: `(not_before, ticket)`.
    delayed: BTreeSet<(Millis, u64)>,
    next_ticket: u64,
    sent: u64,
    retried: u64,
    rate_limited: u64,
}

const RETRY: u8 = 0;
const NEW: u8 = 1;

impl Scheduler {
    /// A scheduler for `config`; `seed` drives backoff jitter.
    pub fn new(config: Config, seed: u64) -> Self {
        let windows = config.windows.iter().map(|&(l, w)| Window::new(l, w)).collect();
        Scheduler {
            limiter: Limiter::new(windows),
            breaker: Breaker::new(config.breaker_threshold, config.breaker_cooldown),
            budget: RetryBudget::new(config.budget_tokens, config.budget_ratio),
            rng: Rng::new(seed),
            paused_until: 0,
            queue: BTreeSet::new(),
            delayed: BTreeSet::new(),
            next_ticket: 0,
            sent: 0,
            retried: 0,
            rate_limited: 0,
            config,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Starts a call: its per-call state (backoff) and its ticket in the queue.
    pub fn enqueue(&mut self) -> (Ticket, Call) {
        let ticket = self.new_ticket();
        self.queue.insert((NEW, ticket.0));
        let backoff = self.config.retry.backoff.delays(Rng::new(self.rng.next_u64()));
        (ticket, Call { attempt: 0, backoff })
    }

    /// Queues the next attempt of a call that should retry, not before `at`. Retries go ahead
    /// of new calls once their time has come.
    pub fn enqueue_retry(&mut self, at: Millis, now: Millis) -> Ticket {
        let ticket = self.new_ticket();
        if at <= now {
            self.queue.insert((RETRY, ticket.0));
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
        if self.queue.remove(&(RETRY, ticket.0)) || self.queue.remove(&(NEW, ticket.0)) {
            return true;
        }
        let found = self.delayed.iter().find(|&&(_, t)| t == ticket.0).copied();
        match found {
            Some(entry) => self.delayed.remove(&entry),
            None => false,
        }
    }

    /// Grants every call that may send at `now`, in queue order, and says when to look again.
    pub fn poll(&mut self, now: Millis) -> Poll {
        while let Some(&(at, t)) = self.delayed.first() {
            if at > now {
                break;
            }
            self.delayed.remove(&(at, t));
            self.queue.insert((RETRY, t));
        }
        let mut poll = Poll::default();
        while let Some(&(class, t)) = self.queue.first() {
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
            match self.limiter.try_acquire(now) {
                Acquire::Granted(slot) => {
                    self.queue.remove(&(class, t));
                    self.breaker.on_send(now);
                    self.sent = self.sent.saturating_add(1);
                    poll.granted.push((Ticket(t), slot));
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
        poll
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

    /// Reports how an attempt ended at `now`: settles its slot, updates the pause, breaker and
    /// budget, and decides whether the call retries. `signals` come from the response headers.
    pub fn complete(
        &mut self,
        call: &mut Call,
        slot: SlotId,
        now: Millis,
        outcome: Outcome,
        signals: &Signals,
        method: &str,
    ) -> Completion {
        self.limiter.settle(slot, now.saturating_add(self.config.margin));
        call.attempt = call.attempt.saturating_add(1);
        let mut completion = Completion {
            decision: Decision::GiveUp { reason: GiveUpReason::Final },
            paused_until: None,
            breaker_opened: false,
            breaker_closed: false,
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
                        // tell, and the oldest request in it may be as new as now.
                        let longest = self.config.windows.iter().map(|&(_, w)| w).max().unwrap_or(0);
                        let until = now.saturating_add(longest);
                        self.limiter.fill_until(now, until);
                        d
                    }
                };
                let until = now.saturating_add(wait);
                if until > self.paused_until {
                    self.paused_until = until;
                    completion.paused_until = Some(until);
                }
            }
            Outcome::Status(status) => {
                completion.breaker_closed = self.breaker.on_success(now);
                // Only answers that would not be retried refill the retry budget.
                if !self.config.retry.status_codes.contains(&status) {
                    self.budget.on_success();
                }
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

    /// Counters and the current view at `now`.
    pub fn stats(&mut self, now: Millis) -> Stats {
        let (in_window, limit) = self.limiter.usage(now);
        let remaining = self.limiter.remaining(now);
        let mut next = match self.limiter.earliest(now) {
            None => now,
            Some(Acquire::WaitUntil(t)) => t,
            Some(_) => now,
        };
        next = next.max(self.paused_until);
        if let Err(until) = self.breaker.admits(now) {
            if until != Millis::MAX {
                next = next.max(until);
            }
        }
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
            breaker: self.breaker.state(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::backoff::{BackoffPolicy, Jitter};

    fn config(limit: u32, window: Millis) -> Config {
        let mut c = Config { windows: vec![(limit, window)], margin: 0, ..Config::default() };
        c.retry.backoff = BackoffPolicy::default().with_base(100).with_jitter(Jitter::None);
        c.breaker_cooldown = window;
        c
    }

    #[test]
    fn grants_in_order_and_waits_for_settle() {
        let mut s = Scheduler::new(config(2, 1_000), 1);
        let (a, _) = s.enqueue();
        let (b, _) = s.enqueue();
        let (c, _) = s.enqueue();
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
        let (_, mut call) = s.enqueue();
        let slot = s.poll(0).granted[0].1;
        s.enqueue();
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
        let (_, mut call) = s.enqueue();
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
            let (_, mut call) = s.enqueue();
            let slot = s.poll(i).granted[0].1;
            opened = s.complete(&mut call, slot, i, Outcome::Status(429), &sig, "GET").breaker_opened;
        }
        assert!(opened);
        s.enqueue();
        s.enqueue();
        assert_eq!(s.poll(500).granted.len(), 0);
        // Cooldown ends at 2 + 1000: exactly one probe.
        assert_eq!(s.poll(1_002).granted.len(), 1);
        assert_eq!(s.poll(1_003).granted.len(), 0);
        assert_eq!(s.stats(1_003).breaker, BreakerState::HalfOpen { probing: true });
    }

    #[test]
    fn a_revoked_slot_does_not_count() {
        let mut s = Scheduler::new(config(1, 1_000), 1);
        s.enqueue();
        let slot = s.poll(0).granted[0].1;
        assert!(s.revoke(slot, 1));
        assert!(!s.revoke(slot, 1));
        s.enqueue();
        assert_eq!(s.poll(2).granted.len(), 1);
        assert_eq!(s.stats(2).sent, 1);
    }

    #[test]
    fn max_concurrent_bounds_flight() {
        let mut c = config(100, 1_000);
        c.max_concurrent = 2;
        let mut s = Scheduler::new(c, 1);
        for _ in 0..5 {
            s.enqueue();
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
            let (_, mut call) = s.enqueue();
            let slot = s.poll(i).granted[0].1;
            let d = s.complete(&mut call, slot, i, Outcome::Status(503), &Signals::default(), "GET").decision;
            if d == (Decision::GiveUp { reason: GiveUpReason::BudgetExhausted }) {
                given_up += 1;
            }
        }
        assert_eq!(given_up, 4);
    }
}
