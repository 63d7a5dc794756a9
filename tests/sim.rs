#![cfg(not(target_arch = "wasm32"))]
//! Discrete-event simulation of the scheduler against a strict, arrival-counting server.
//!
//! A simulated client drives [`Scheduler`] with a fake clock (integer milliseconds); a simulated
//! server accepts a request iff fewer than `L` accepted arrivals lie in `(t - W, t]` at its
//! arrival time `t`, and otherwise answers 429 (with a `Retry-After` of "until the oldest counted
//! arrival leaves the window", rounded up to whole seconds, or without one, by parameter). Each
//! request has its own uplink latency `u` (arrival = send + u) and downlink latency `d` (answer
//! back at send + u + d), both in `[0, max_rtt / 2]`.
//!
//! What is checked (see each test for details):
//! 1. the server never counts more than `L` arrivals in any `(t - W, t]` (checked again, exactly,
//!    over the whole arrival log), and the client's own arrivals — 429'd ones included — never
//!    exceed `L` in any window either;
//! 2. with the client as the only consumer, there are zero 429s: every call ends with 200 after
//!    exactly one attempt;
//! 3. a single burst of `N` calls at time 0 finishes by `(k-1)(W + max_rtt) + max_rtt`, `k =
//!    ceil(N / L)` (and each send happens by `floor(i / L)(W + max_rtt)`), exactly on that bound
//!    when every latency is the maximum;
//! 4. with a hidden consumer spending part of the server's budget, the simulation terminates,
//!    every call ends (200 or a final 429), the server's window holds, retries and pauses are
//!    honoured;
//! 5. hand-computed fake-clock scenarios with exact send times.
//!
//! Also: two rules at once (a short and a long window) never draw a 429 either.
//!
//! The checks are shown to have teeth by `meta_*` tests that run deliberately broken clients
//! (slots settled at send time, a settle margin, wake-ups ignored) and expect the checks to fail.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use ratewindow::core::retry::{Decision, GiveUpReason, Outcome};
use ratewindow::core::scheduler::{Call, Config, Priority, Scheduler, Stats, Ticket};
use ratewindow::core::signals::Signals;
use ratewindow::core::window::SlotId;

// ---------------------------------------------------------------------------------------------
// The simulation's parameters
// ---------------------------------------------------------------------------------------------

/// How each request's uplink and downlink latencies are drawn, each in `[0, max_rtt / 2]`.
#[derive(Debug, Clone, PartialEq)]
enum Latency {
    /// Uniform in `[0, max_rtt / 2]`, from a seed.
    Uniform(u64),
    /// Each of `u`, `d` is either 0 or `max_rtt / 2`, from a seed (the worst case for a
    /// send-anchored window: a slow request followed by a fast one).
    Extremes(u64),
    /// Always `max_rtt / 2` each way.
    Fixed,
    /// `(u, d)` per request in send order (hand-computed scenarios).
    Script(Vec<(u64, u64)>),
}

/// Whether a 429 carries `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RetryAfter {
    Always,
    Never,
    /// Present or not per response, from a seed.
    Mixed(u64),
}

/// A consumer the client cannot see: `per_window` arrivals per window, evenly spread (the k-th
/// at `phase + floor(k·W / per_window)`, so any `(t - W, t]` holds at most `per_window` of them),
/// each going through the server's gate like any other arrival (a refused one is not counted).
#[derive(Debug, Clone, PartialEq)]
struct Hidden {
    per_window: u64,
    phase: u64,
    /// Stop after this many arrivals (`None`: forever).
    count: Option<u64>,
}

/// When the client polls after `poll` said `wake_at`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Wake {
    /// At `wake_at` (the correct client).
    Exact,
    /// Never (a broken client: only new calls and answers make it poll).
    Ignore,
}

/// The client's behaviour; everything but `Correct` is a deliberately broken client used to
/// show that the checks can fail.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Client {
    Correct,
    /// Settles each slot when the request is *sent* (a send-anchored window).
    SettleAtSend,
}

#[derive(Debug, Clone)]
struct Sim {
    limit: u32,
    window: u64,
    max_rtt: u64,
    latency: Latency,
    /// `(time, size)` bursts of calls, times non-decreasing.
    bursts: Vec<(u64, usize)>,
    retry_after: RetryAfter,
    hidden: Option<Hidden>,
    /// A second `(limit, window)` rule, enforced by both the client and the server.
    second: Option<(u32, u64)>,
    sched_seed: u64,
    margin: u64,
    wake: Wake,
    client: Client,
}

impl Sim {
    fn new(
        limit: u32,
        window: u64,
        max_rtt: u64,
        latency: Latency,
        bursts: Vec<(u64, usize)>,
    ) -> Sim {
        Sim {
            limit,
            window,
            max_rtt,
            latency,
            bursts,
            retry_after: RetryAfter::Always,
            hidden: None,
            second: None,
            sched_seed: 1,
            margin: 0,
            wake: Wake::Exact,
            client: Client::Correct,
        }
    }

    fn n_calls(&self) -> usize {
        self.bursts.iter().map(|b| b.1).sum()
    }

    fn config(&self) -> Config {
        let mut windows = vec![(self.limit, self.window)];
        windows.extend(self.second);
        Config {
            windows,
            margin: self.margin,
            ..Config::default()
        }
    }
}

/// SplitMix64, independent of the crate's own generator.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn latency_of(sim: &Sim, j: usize) -> (u64, u64) {
    let half = sim.max_rtt / 2;
    let draw = |seed: u64, k: u64| mix(seed ^ mix((j as u64).wrapping_mul(2).wrapping_add(k)));
    match &sim.latency {
        Latency::Uniform(seed) => (draw(*seed, 0) % (half + 1), draw(*seed, 1) % (half + 1)),
        Latency::Extremes(seed) => {
            let pick = |k| if draw(*seed, k) & 1 == 0 { 0 } else { half };
            (pick(0), pick(1))
        }
        Latency::Fixed => (half, half),
        Latency::Script(v) => v[j],
    }
}

// ---------------------------------------------------------------------------------------------
// The strict server
// ---------------------------------------------------------------------------------------------

/// One `limit` per `(t - window, t]` rule of the server.
struct Rule {
    limit: usize,
    window: u64,
    /// Accepted arrivals still inside the window, oldest first.
    live: VecDeque<u64>,
}

struct Server {
    /// Every rule must admit an arrival (the first is the `(L, W)` of the simulation).
    rules: Vec<Rule>,
    /// Every accepted arrival (client and hidden), in time order.
    accepted_log: Vec<u64>,
    hidden: Option<Hidden>,
    next_hidden: u64,
    hidden_accepted: u64,
    hidden_refused: u64,
}

impl Server {
    /// Admits an arrival at `t` (arrivals come in time order). `Err(wait)`: 429, with the time
    /// until the oldest counted arrival leaves every full window.
    fn admit(&mut self, t: u64) -> Result<(), u64> {
        let mut wait = None;
        for r in &mut self.rules {
            while r.live.front().is_some_and(|&a| a + r.window <= t) {
                r.live.pop_front();
            }
            if r.live.len() >= r.limit {
                let w = r.live[0] + r.window - t;
                wait = Some(wait.map_or(w, |v: u64| v.max(w)));
            }
        }
        if let Some(w) = wait {
            return Err(w);
        }
        for r in &mut self.rules {
            r.live.push_back(t);
        }
        self.accepted_log.push(t);
        Ok(())
    }

    /// Lets the hidden consumer's arrivals up to and including `t` through the gate, first.
    fn catch_up_hidden(&mut self, t: u64) {
        let Some(h) = self.hidden.clone() else { return };
        loop {
            if h.count.is_some_and(|c| self.next_hidden >= c) {
                return;
            }
            let at = h.phase + self.next_hidden * self.rules[0].window / h.per_window;
            if at > t {
                return;
            }
            self.next_hidden += 1;
            match self.admit(at) {
                Ok(()) => self.hidden_accepted += 1,
                Err(_) => self.hidden_refused += 1,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The client and the event loop
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Req {
    call: usize,
    slot: SlotId,
    sent: u64,
    /// The number of the event after which it was sent (orders sends and pauses at equal times).
    sent_after: u64,
    arrived: u64,
    answered: u64,
    status: u16,
    retry_after: Option<u64>,
    /// The `at` of the retry this answer led to, if any.
    retry_at: Option<u64>,
}

#[derive(Debug)]
struct CallRec {
    call: Call,
    enqueued: u64,
    sends: Vec<u64>,
    final_status: Option<u16>,
    reason: Option<GiveUpReason>,
    done_at: u64,
}

#[derive(Debug)]
struct Run {
    calls: Vec<CallRec>,
    /// Every request, in send order.
    reqs: Vec<Req>,
    /// Every accepted arrival (client and hidden), in time order.
    accepted_log: Vec<u64>,
    /// `(arrival, accepted)` of every client request, in time order.
    client_arrivals: Vec<(u64, bool)>,
    hidden_accepted: u64,
    hidden_refused: u64,
    /// 429 answers the client received.
    n_429: u64,
    /// `(event, from, until)` of every pause a completion reported.
    pauses: Vec<(u64, u64, u64)>,
    /// Answers that opened the breaker.
    breaker_opened: u64,
    /// When the last call ended.
    finish: u64,
    events: u64,
    stats: Stats,
}

const ENQUEUE: u8 = 0;
const ARRIVE: u8 = 1;
const ANSWER: u8 = 2;
const WAKE: u8 = 3;

/// Runs the simulation until every call has ended. `Err` on a stall (calls left but nothing
/// scheduled), on too many events, or on a scheduler answer that makes no sense.
fn run(sim: &Sim) -> Result<Run, String> {
    let n = sim.n_calls();
    let mut sched = Scheduler::new(sim.config(), sim.sched_seed);
    let mut server = Server {
        rules: sim
            .config()
            .windows
            .iter()
            .map(|&(limit, window)| Rule {
                limit: limit as usize,
                window,
                live: VecDeque::new(),
            })
            .collect(),
        accepted_log: Vec::new(),
        hidden: sim.hidden.clone(),
        next_hidden: 0,
        hidden_accepted: 0,
        hidden_refused: 0,
    };
    // (time, sequence, kind, index): equal times run in the order they were scheduled.
    let mut heap: BinaryHeap<Reverse<(u64, u64, u8, usize)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |heap: &mut BinaryHeap<_>, t: u64, kind: u8, idx: usize| {
        seq += 1;
        heap.push(Reverse((t, seq, kind, idx)));
    };
    for (b, &(t, _)) in sim.bursts.iter().enumerate() {
        push(&mut heap, t, ENQUEUE, b);
    }
    let mut calls: Vec<CallRec> = Vec::with_capacity(n);
    let mut reqs: Vec<Req> = Vec::new();
    let mut tickets: HashMap<Ticket, usize> = HashMap::new();
    let mut wakes: HashSet<u64> = HashSet::new();
    let mut client_arrivals = Vec::new();
    let mut pauses = Vec::new();
    let mut n_429 = 0u64;
    let mut breaker_opened = 0u64;
    let mut open = n;
    let mut now = 0u64;
    let mut events = 0u64;
    // Each attempt costs an arrival, an answer and a few wake-ups; 6 attempts per call at most.
    let bound = 1_000 + 60 * n as u64;
    while open > 0 {
        let Some(Reverse((t, _, kind, idx))) = heap.pop() else {
            return Err(format!(
                "stalled at {now}: {open} calls not done, nothing scheduled; stats {:?}",
                sched.stats(now)
            ));
        };
        events += 1;
        if events > bound {
            return Err(format!(
                "more than {bound} events (at {t}, {open} calls open)"
            ));
        }
        if t < now {
            return Err(format!("time went backwards: {t} < {now}"));
        }
        now = t;
        match kind {
            ENQUEUE => {
                for _ in 0..sim.bursts[idx].1 {
                    let (ticket, call) = sched.enqueue(Priority::Auto, now).unwrap();
                    tickets.insert(ticket, calls.len());
                    calls.push(CallRec {
                        call,
                        enqueued: now,
                        sends: Vec::new(),
                        final_status: None,
                        reason: None,
                        done_at: 0,
                    });
                }
            }
            ARRIVE => {
                server.catch_up_hidden(now);
                let r = &mut reqs[idx];
                match server.admit(now) {
                    Ok(()) => {
                        r.status = 200;
                        client_arrivals.push((now, true));
                    }
                    Err(wait) => {
                        r.status = 429;
                        let header = match sim.retry_after {
                            RetryAfter::Always => true,
                            RetryAfter::Never => false,
                            RetryAfter::Mixed(seed) => mix(seed ^ idx as u64) & 1 == 0,
                        };
                        // Whole seconds, rounded up.
                        r.retry_after = header.then_some(wait.div_ceil(1_000) * 1_000);
                        client_arrivals.push((now, false));
                    }
                }
                // Server-side event: the client does not poll here.
                continue;
            }
            ANSWER => {
                let r = reqs[idx].clone();
                let c = &mut calls[r.call];
                let signals = match r.retry_after {
                    Some(ms) => Signals {
                        retry_after_ms: Some(ms),
                        ..Default::default()
                    },
                    None => Signals::default(),
                };
                if r.status == 429 {
                    n_429 += 1;
                }
                let done = sched.complete(
                    &mut c.call,
                    r.slot,
                    now,
                    Outcome::Status(r.status),
                    &signals,
                    "GET",
                );
                breaker_opened += u64::from(done.breaker_opened);
                if let Some(until) = done.paused_until {
                    pauses.push((events, now, until));
                }
                match done.decision {
                    Decision::Retry { at, .. } => {
                        if r.status == 200 {
                            return Err(format!("a 200 was retried: {r:?}"));
                        }
                        let ticket = sched.enqueue_retry(at, now);
                        tickets.insert(ticket, r.call);
                        reqs[idx].retry_at = Some(at);
                    }
                    Decision::GiveUp { reason } => {
                        c.final_status = Some(r.status);
                        c.reason = Some(reason);
                        c.done_at = now;
                        open -= 1;
                    }
                }
            }
            WAKE => {
                wakes.remove(&now);
            }
            _ => unreachable!(),
        }
        let p = sched.poll(now);
        for (ticket, slot) in p.granted {
            let ci = tickets
                .remove(&ticket)
                .ok_or_else(|| format!("unknown ticket {ticket:?} granted"))?;
            let j = reqs.len();
            let (u, d) = latency_of(sim, j);
            reqs.push(Req {
                call: ci,
                slot,
                sent: now,
                sent_after: events,
                arrived: now + u,
                answered: now + u + d,
                status: 0,
                retry_after: None,
                retry_at: None,
            });
            calls[ci].sends.push(now);
            push(&mut heap, now + u, ARRIVE, j);
            push(&mut heap, now + u + d, ANSWER, j);
            if sim.client == Client::SettleAtSend {
                // Broken on purpose: the slot is settled now, through a throwaway copy of the
                // call; the real answer's `complete` then settles nothing (already settled).
                let mut copy = calls[ci].call.clone();
                sched.complete(
                    &mut copy,
                    slot,
                    now,
                    Outcome::Status(200),
                    &Signals::default(),
                    "GET",
                );
            }
        }
        if let Some(w) = p.wake_at {
            if w <= now {
                return Err(format!(
                    "poll({now}) asked to wake at {w}, not later than now"
                ));
            }
            if sim.wake == Wake::Exact && wakes.insert(w) {
                push(&mut heap, w, WAKE, 0);
            }
        }
    }
    let finish = calls.iter().map(|c| c.done_at).max().unwrap_or(0);
    let stats = sched.stats(finish);
    Ok(Run {
        calls,
        reqs,
        accepted_log: server.accepted_log,
        client_arrivals,
        hidden_accepted: server.hidden_accepted,
        hidden_refused: server.hidden_refused,
        n_429,
        breaker_opened,
        pauses,
        finish,
        events,
        stats,
    })
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

/// The largest number of `times` in any `(t - w, t]`, and one `t` where it is reached (the
/// maximum is always reached at some element). Independent of the server's own bookkeeping.
fn max_in_window(times: &[u64], w: u64) -> (usize, u64) {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let mut best = (0, 0);
    let mut lo = 0;
    for hi in 0..sorted.len() {
        while sorted[lo] + w <= sorted[hi] {
            lo += 1;
        }
        if hi - lo + 1 > best.0 {
            best = (hi - lo + 1, sorted[hi]);
        }
    }
    best
}

/// Checks that hold in every run: the server's window, the client's own traffic, bookkeeping.
fn check_windows_and_books(sim: &Sim, r: &Run) -> Result<(), TestCaseError> {
    let all: Vec<u64> = r.client_arrivals.iter().map(|a| a.0).collect();
    for (l, w) in sim.config().windows {
        let l = l as usize;
        // 1a. The server counted at most L accepted arrivals in any (t - W, t].
        let (most, at) = max_in_window(&r.accepted_log, w);
        prop_assert!(
            most <= l,
            "server counted {} accepted arrivals in ({}, {}] (L = {})",
            most,
            at.saturating_sub(w),
            at,
            l
        );
        // 1b. The client's own arrivals, 429'd ones included, never exceed L in any window.
        let (most, at) = max_in_window(&all, w);
        prop_assert!(
            most <= l,
            "client put {} arrivals in ({}, {}] (L = {})",
            most,
            at.saturating_sub(w),
            at,
            l
        );
    }
    // Bookkeeping: every call ended; the scheduler's counters agree with the simulation.
    prop_assert_eq!(r.calls.len(), sim.n_calls());
    prop_assert!(r
        .calls
        .iter()
        .all(|c| matches!(c.final_status, Some(200 | 429))));
    prop_assert_eq!(r.stats.in_flight, 0);
    prop_assert_eq!(r.stats.queued, 0);
    prop_assert_eq!(r.stats.sent, r.reqs.len() as u64);
    prop_assert_eq!(r.stats.rate_limited, r.n_429);
    prop_assert_eq!(r.client_arrivals.len(), r.reqs.len());
    for q in &r.reqs {
        prop_assert!(
            q.sent <= q.arrived && q.arrived <= q.answered && q.answered <= q.sent + sim.max_rtt
        );
    }
    // Every attempt costs at most an arrival, an answer and a wake-up or two.
    prop_assert!(
        r.events <= 4 * r.reqs.len() as u64 + 2 * sim.bursts.len() as u64 + 2,
        "{} events",
        r.events
    );
    for c in &r.calls {
        prop_assert!(c.sends.first().is_none_or(|&s| s >= c.enqueued));
    }
    Ok(())
}

/// Properties 1 and 2 with the client as the only consumer: zero 429s, one attempt per call.
fn check_alone(sim: &Sim, r: &Run) -> Result<(), TestCaseError> {
    check_windows_and_books(sim, r)?;
    prop_assert_eq!(r.n_429, 0, "429s with the client alone");
    prop_assert!(r.client_arrivals.iter().all(|a| a.1));
    prop_assert_eq!(r.reqs.len(), sim.n_calls(), "one attempt per call");
    for c in &r.calls {
        prop_assert_eq!(c.final_status, Some(200));
        prop_assert_eq!(c.reason, Some(GiveUpReason::Final));
    }
    Ok(())
}

/// Property 3, for a single burst of N calls at time 0, with `k = ceil(N / L)` and
/// `R = max_rtt` (every u + d ≤ 2·(max_rtt / 2) ≤ max_rtt), margin 0:
///
/// * the i-th send (0-based, send order) happens at or before `floor(i / L) · (W + R)`;
/// * the last answer comes back at or before `(k - 1) · (W + R) + R` (slack 0: margin is 0);
/// * with every latency at its maximum (`Latency::Fixed`, u = d = max_rtt/2, R' = u + d), the
///   last answer comes back exactly at `(k - 1) · (W + R') + R'`.
///
/// Why: slot i - L frees at its answer + W ≤ s(i-L) + R + W, and by then every earlier slot has
/// freed too (sends are in order), so at most L - 1 are held and call i may go.
fn check_finish_bound(sim: &Sim, r: &Run) -> Result<(), TestCaseError> {
    prop_assert_eq!(sim.bursts.len(), 1);
    prop_assert_eq!(sim.bursts[0].0, 0);
    let n = sim.n_calls() as u64;
    let l = sim.limit as u64;
    let w = sim.window;
    let rtt = sim.max_rtt;
    let k = n.div_ceil(l);
    for (i, q) in r.reqs.iter().enumerate() {
        let bound = (i as u64 / l) * (w + rtt);
        prop_assert!(
            q.sent <= bound,
            "send {} at {} > {} (L {}, W {}, max_rtt {})",
            i,
            q.sent,
            bound,
            l,
            w,
            rtt
        );
    }
    let bound = (k - 1) * (w + rtt) + rtt;
    prop_assert!(
        r.finish <= bound,
        "finished at {} > bound {} (N {}, L {}, W {}, max_rtt {})",
        r.finish,
        bound,
        n,
        l,
        w,
        rtt
    );
    if sim.latency == Latency::Fixed {
        let rr = 2 * (rtt / 2);
        prop_assert_eq!(
            r.finish,
            (k - 1) * (w + rr) + rr,
            "fixed latencies: exact finish"
        );
    }
    Ok(())
}

/// Property 4 (with a hidden consumer): the windows hold, every call ended, retries waited for
/// their time and nothing was sent during a pause.
fn check_hidden(sim: &Sim, r: &Run) -> Result<(), TestCaseError> {
    check_windows_and_books(sim, r)?;
    // Every retry went at or after the time its decision named, and a server-given wait is
    // honoured exactly (the answer's time plus Retry-After, never shortened).
    let mut last_at: HashMap<usize, u64> = HashMap::new();
    for q in &r.reqs {
        if let Some(&at) = last_at.get(&q.call) {
            prop_assert!(
                q.sent >= at,
                "retry of call {} sent at {} before its time {}",
                q.call,
                q.sent,
                at
            );
        }
        if let Some(at) = q.retry_at {
            prop_assert_eq!(q.status, 429);
            if let Some(wait) = q.retry_after {
                prop_assert_eq!(at, q.answered + wait, "Retry-After not honoured exactly");
            }
            last_at.insert(q.call, at);
        }
    }
    // Nothing is sent while the budget is paused (sends at the pause's own time but before the
    // answer that paused do not count).
    for q in &r.reqs {
        for &(event, from, until) in &r.pauses {
            let paused = q.sent_after >= event && from <= q.sent && q.sent < until;
            prop_assert!(
                !paused,
                "sent at {} during pause [{}, {})",
                q.sent,
                from,
                until
            );
        }
    }
    // Calls that ended on a 429 ran out of attempts, of budget, or of patience.
    for c in &r.calls {
        if c.final_status == Some(429) {
            let why = c.reason;
            let expected = matches!(
                why,
                Some(
                    GiveUpReason::AttemptsExhausted
                        | GiveUpReason::BudgetExhausted
                        | GiveUpReason::RetryAfterTooLong { .. }
                )
            );
            prop_assert!(expected, "a call ended on a 429 for {:?}", why);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn arb_latency() -> impl Strategy<Value = Latency> {
    prop_oneof![
        2 => any::<u64>().prop_map(Latency::Uniform),
        1 => any::<u64>().prop_map(Latency::Extremes),
        1 => Just(Latency::Fixed),
    ]
}

fn arb_retry_after() -> impl Strategy<Value = RetryAfter> {
    prop_oneof![
        Just(RetryAfter::Always),
        Just(RetryAfter::Never),
        any::<u64>().prop_map(RetryAfter::Mixed)
    ]
}

/// Bursts at random times with random sizes, clipped to 6·L calls in all (at least one).
fn arb_bursts(l: u32, w: u64) -> impl Strategy<Value = Vec<(u64, usize)>> {
    let max = 6 * l as usize;
    prop::collection::vec((0..=2 * w, 1..=2 * l as usize), 1..=6).prop_map(move |raw| {
        let mut t = 0;
        let mut total = 0;
        let mut out = Vec::new();
        for (gap, size) in raw {
            t += gap;
            let size = size.min(max - total);
            if size == 0 {
                break;
            }
            total += size;
            out.push((t, size));
        }
        out
    })
}

/// `rtt_range(w)` gives the range of `max_rtt`; `single` makes one burst of 1..=6L at time 0.
fn arb_sim(
    limits: std::ops::RangeInclusive<u32>,
    rtt_range: fn(u64) -> std::ops::RangeInclusive<u64>,
    single: bool,
) -> impl Strategy<Value = Sim> {
    (limits, 100u64..=5_000).prop_flat_map(move |(l, w)| {
        let bursts = if single {
            (1..=6 * l as usize).prop_map(|n| vec![(0, n)]).boxed()
        } else {
            arb_bursts(l, w).boxed()
        };
        (
            Just(l),
            Just(w),
            rtt_range(w),
            arb_latency(),
            bursts,
            arb_retry_after(),
            any::<u64>(),
        )
            .prop_map(|(l, w, rtt, latency, bursts, retry_after, seed)| {
                let mut sim = Sim::new(l, w, rtt, latency, bursts);
                sim.retry_after = retry_after;
                sim.sched_seed = seed;
                sim
            })
    })
}

fn rtt_up_to_window(w: u64) -> std::ops::RangeInclusive<u64> {
    0..=w
}

fn rtt_over_window(w: u64) -> std::ops::RangeInclusive<u64> {
    w + 1..=3 * w
}

fn arb_hidden_sim() -> impl Strategy<Value = Sim> {
    (
        arb_sim(2..=50, rtt_up_to_window, false),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(|(mut sim, h, phase)| {
            let per_window = 1 + h % (sim.limit as u64 - 1);
            sim.hidden = Some(Hidden {
                per_window,
                phase: phase % (sim.window / per_window + 1),
                count: None,
            });
            sim
        })
}

/// A short rule `(L, W)` and a longer one `(L2, W2)` that binds first over long runs:
/// `W2 = m·W + extra` (`extra < W`), `L < L2 ≤ m·L`.
fn arb_two_window_sim() -> impl Strategy<Value = Sim> {
    (1u32..=20, 100u64..=1_000, 2u64..=6).prop_flat_map(|(l, w, m)| {
        let l2 = l + 1..=(m as u32 * l).max(l + 1);
        (
            Just(l),
            Just(w),
            Just(m),
            l2,
            0..w,
            0..=2 * w,
            arb_latency(),
            arb_retry_after(),
            any::<u64>(),
        )
            .prop_flat_map(|(l, w, m, l2, extra, rtt, latency, retry_after, seed)| {
                arb_bursts(l2, w).prop_map(move |bursts| {
                    let mut sim = Sim::new(l, w, rtt, latency.clone(), bursts);
                    sim.second = Some((l2, m * w + extra));
                    sim.retry_after = retry_after;
                    sim.sched_seed = seed;
                    sim
                })
            })
    })
}

fn ran(sim: &Sim) -> Result<Run, TestCaseError> {
    run(sim).map_err(|e| TestCaseError::fail(format!("simulation failed: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

/// `cases` cases, and no regression file written next to the tests.
fn cases(cases: u32) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases)
    }
}

proptest! {
    #![proptest_config(cases(1024))]

    /// Properties 1 and 2: bursts at random times, max_rtt ≤ W, the client alone.
    #[test]
    fn alone_in_bursts_never_draws_a_429(sim in arb_sim(1..=50, rtt_up_to_window, false)) {
        let r = ran(&sim)?;
        check_alone(&sim, &r)?;
    }
}

proptest! {
    #![proptest_config(cases(256))]

    /// Properties 1, 2 and 3: one burst at time 0, max_rtt ≤ W.
    #[test]
    fn alone_single_burst_finishes_in_time(sim in arb_sim(1..=50, rtt_up_to_window, true)) {
        let r = ran(&sim)?;
        check_alone(&sim, &r)?;
        check_finish_bound(&sim, &r)?;
    }

    /// Properties 1, 2 and 3 with round trips longer than the window: one burst at time 0.
    #[test]
    fn alone_single_burst_rtt_over_window(sim in arb_sim(1..=50, rtt_over_window, true)) {
        let r = ran(&sim)?;
        check_alone(&sim, &r)?;
        check_finish_bound(&sim, &r)?;
    }

    /// Properties 1 and 2 with two rules at once (e.g. 10 per second and 50 per 5 s), in bursts.
    #[test]
    fn alone_two_windows_never_draws_a_429(sim in arb_two_window_sim()) {
        let r = ran(&sim)?;
        check_alone(&sim, &r)?;
    }

    /// Properties 1 and 2 with round trips longer than the window, in bursts.
    #[test]
    fn alone_in_bursts_rtt_over_window(sim in arb_sim(1..=50, rtt_over_window, false)) {
        let r = ran(&sim)?;
        check_alone(&sim, &r)?;
    }
}

/// Property 4: a hidden consumer takes H < L arrivals per window, evenly spread.
///
/// Asserted: the simulation terminates (no stall, event bound), the server's window holds (and
/// so does the client's own traffic), every call ends with 200 or a final 429, retries wait for
/// their time (a Retry-After exactly) and nothing goes during a pause. The hidden consumer's
/// arrivals go through the server's gate too (one that finds the window full is refused and
/// not counted), so the server's window is the server's, not the test's, to keep.
///
/// The 429 counts are only reported (`cargo test --test sim hidden -- --nocapture`). Observed
/// (proptest seeds are random per run; eight runs of 256 cases each, with the default retry
/// budget of 20 tokens / 0.1 per success and breaker of 3 × 429 → 60 s cooldown): 20 900–23 100
/// calls, 23 600–26 000 attempts, 10 100–12 800 answers 429 (40–50 % of attempts); 7 260–10 000
/// calls (33–43 %) ended on a final 429, all of them `BudgetExhausted` (the budget allows 9
/// retries, then about 1 per 10 successes; `AttemptsExhausted` was never seen); the breaker
/// opened 657–767 times; the longest simulated run lasted 450–500 s (cooldowns doubling to
/// 480 s); 400–540 of the hidden consumer's arrivals were refused.
/// Most 429s come from bursts: the client cannot see the hidden share, so when a pause ends it
/// grants as many calls as its own window allows (a Retry-After does not shrink its window; a
/// bare 429 fills it only until now + W), and the server refuses all but the free slots.
#[test]
fn hidden_consumer_terminates_and_window_holds() {
    static CASES: AtomicU64 = AtomicU64::new(0);
    static CALLS: AtomicU64 = AtomicU64::new(0);
    static ANSWERS_429: AtomicU64 = AtomicU64::new(0);
    static FINAL_429: AtomicU64 = AtomicU64::new(0);
    static FINAL_BUDGET: AtomicU64 = AtomicU64::new(0);
    static HIDDEN_REFUSED: AtomicU64 = AtomicU64::new(0);
    static ATTEMPTS: AtomicU64 = AtomicU64::new(0);
    static BREAKER: AtomicU64 = AtomicU64::new(0);
    static LONGEST: AtomicU64 = AtomicU64::new(0);
    let mut runner = TestRunner::new(cases(256));
    let result = runner.run(&arb_hidden_sim(), |sim| {
        let r = ran(&sim)?;
        check_hidden(&sim, &r)?;
        CASES.fetch_add(1, Ordering::Relaxed);
        CALLS.fetch_add(r.calls.len() as u64, Ordering::Relaxed);
        ATTEMPTS.fetch_add(r.reqs.len() as u64, Ordering::Relaxed);
        ANSWERS_429.fetch_add(r.n_429, Ordering::Relaxed);
        FINAL_429.fetch_add(
            r.calls
                .iter()
                .filter(|c| c.final_status == Some(429))
                .count() as u64,
            Ordering::Relaxed,
        );
        FINAL_BUDGET.fetch_add(
            r.calls
                .iter()
                .filter(|c| c.reason == Some(GiveUpReason::BudgetExhausted))
                .count() as u64,
            Ordering::Relaxed,
        );
        HIDDEN_REFUSED.fetch_add(r.hidden_refused, Ordering::Relaxed);
        BREAKER.fetch_add(r.breaker_opened, Ordering::Relaxed);
        LONGEST.fetch_max(r.finish, Ordering::Relaxed);
        Ok(())
    });
    let answers = ANSWERS_429.load(Ordering::Relaxed);
    let attempts = ATTEMPTS.load(Ordering::Relaxed).max(1);
    eprintln!(
        "hidden consumer: {} passing cases, {} calls, {} attempts, {} answers 429 ({:.1}% of attempts), {} calls ended on a 429 ({} for the retry budget), {} hidden arrivals refused, breaker opened {} times, longest run {} ms",
        CASES.load(Ordering::Relaxed),
        CALLS.load(Ordering::Relaxed),
        attempts,
        answers,
        100.0 * answers as f64 / attempts as f64,
        FINAL_429.load(Ordering::Relaxed),
        FINAL_BUDGET.load(Ordering::Relaxed),
        HIDDEN_REFUSED.load(Ordering::Relaxed),
        BREAKER.load(Ordering::Relaxed),
        LONGEST.load(Ordering::Relaxed),
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-computed fake-clock scenarios (property 5)
// ---------------------------------------------------------------------------------------------

fn send_times(r: &Run) -> Vec<u64> {
    r.reqs.iter().map(|q| q.sent).collect()
}

/// L = 2, W = 1000, 50 ms each way, 5 calls at 0. Two go at 0 and are answered at 100, so their
/// slots free at 1100; two go at 1100, answered at 1200, free at 2200; the last goes at 2200
/// and is answered at 2300 (= (3 - 1)·(1000 + 100) + 100, the bound, reached).
#[test]
fn hand_five_calls_two_per_second() {
    let sim = Sim::new(2, 1_000, 100, Latency::Fixed, vec![(0, 5)]);
    let r = run(&sim).unwrap();
    assert_eq!(send_times(&r), vec![0, 0, 1_100, 1_100, 2_200]);
    assert_eq!(
        r.client_arrivals.iter().map(|a| a.0).collect::<Vec<_>>(),
        vec![50, 50, 1_150, 1_150, 2_250]
    );
    assert_eq!(r.finish, 2_300);
    assert_eq!(r.n_429, 0);
    check_alone(&sim, &r).unwrap();
    check_finish_bound(&sim, &r).unwrap();
}

/// L = 1, W = 1000, uneven latencies: call 0 takes 400 up and 10 down (answered at 410, its
/// slot frees at 1410); call 1 takes 0 both ways (sent, arrives and is answered at 1410, frees at
/// 2410); call 2 takes 20 up, 30 down (sent 2410, arrives 2430, answered 2460).
/// A send-anchored window would send call 1 at 1000, arriving at 1000 while call 0's arrival at
/// 400 is still in (0, 1000]: a 429. The broken client below does exactly that.
#[test]
fn hand_uneven_latencies_one_per_second() {
    let script = Latency::Script(vec![(400, 10), (0, 0), (20, 30), (0, 0), (0, 0)]);
    let sim = Sim::new(1, 1_000, 800, script, vec![(0, 3)]);
    let r = run(&sim).unwrap();
    assert_eq!(send_times(&r), vec![0, 1_410, 2_410]);
    assert_eq!(r.finish, 2_460);
    check_alone(&sim, &r).unwrap();

    let mut broken = sim.clone();
    broken.client = Client::SettleAtSend;
    let r = run(&broken).unwrap();
    assert_eq!(r.reqs[1].sent, 1_000);
    assert_eq!(r.reqs[1].status, 429);
    assert!(check_alone(&broken, &r).is_err());
}

/// L = 2, W = 1000, 50 ms each way, one hidden arrival at 0, two calls at 0. Call 0 arrives at
/// 50 (one counted: accepted); call 1 arrives at 50 (two counted: 429, the hidden arrival leaves
/// at 1000, 950 ms away, so Retry-After 1 s). Call 1's answer at 100 pauses everyone until 1100
/// and retries at 1100; both slots (settled at 100) also free at 1100. The retry arrives at 1150
/// and is accepted. Without Retry-After, the scheduler fills its window until 100 + 1000 and
/// backs off at most 1000 ms, so the retry also goes at 1100.
#[test]
fn hand_hidden_arrival_and_retry_after() {
    for retry_after in [RetryAfter::Always, RetryAfter::Never] {
        let mut sim = Sim::new(2, 1_000, 100, Latency::Fixed, vec![(0, 2)]);
        sim.hidden = Some(Hidden {
            per_window: 1,
            phase: 0,
            count: Some(1),
        });
        sim.retry_after = retry_after;
        let r = run(&sim).unwrap();
        assert_eq!(send_times(&r), vec![0, 0, 1_100], "{retry_after:?}");
        assert_eq!(r.reqs[1].status, 429);
        let expected = if retry_after == RetryAfter::Always {
            Some(1_000)
        } else {
            None
        };
        assert_eq!(r.reqs[1].retry_after, expected);
        assert_eq!(r.reqs[2].call, 1);
        assert_eq!(r.n_429, 1);
        assert_eq!(r.finish, 1_200);
        assert!(r.calls.iter().all(|c| c.final_status == Some(200)));
        assert_eq!(r.hidden_accepted, 1);
        check_hidden(&sim, &r).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The checks have teeth: deliberately broken clients make them fail
// ---------------------------------------------------------------------------------------------

#[test]
fn meta_window_checker_counts_half_open_windows() {
    assert_eq!(max_in_window(&[0, 999, 1_000], 1_000), (2, 999));
    assert_eq!(max_in_window(&[400, 1_000], 1_000), (2, 1_000));
    assert_eq!(max_in_window(&[0, 1_000, 2_000], 1_000), (1, 0));
    assert_eq!(max_in_window(&[], 1_000), (0, 0));
}

/// Settling at send time (a send-anchored window) draws 429s and overfills the client's own
/// window once latencies vary; the same scenario is clean with the real client.
#[test]
fn meta_settle_at_send_is_caught() {
    let mut sim = Sim::new(3, 1_000, 600, Latency::Extremes(7), vec![(0, 18)]);
    check_alone(&sim, &run(&sim).unwrap()).unwrap();
    sim.client = Client::SettleAtSend;
    let r = run(&sim).unwrap();
    assert!(r.n_429 > 0);
    assert!(check_alone(&sim, &r).is_err());
}

/// A settle margin of 3 ms makes the exact-finish (and bound) check fail with fixed latencies.
#[test]
fn meta_settle_margin_breaks_the_time_bound() {
    let mut sim = Sim::new(2, 1_000, 100, Latency::Fixed, vec![(0, 5)]);
    check_finish_bound(&sim, &run(&sim).unwrap()).unwrap();
    sim.margin = 3;
    let r = run(&sim).unwrap();
    assert_eq!(r.finish, 2_306);
    assert!(check_finish_bound(&sim, &r).is_err());
}

/// A client that ignores `wake_at` stalls, and the loop reports it instead of spinning.
#[test]
fn meta_ignored_wake_ups_stall_and_are_reported() {
    let mut sim = Sim::new(2, 1_000, 100, Latency::Fixed, vec![(0, 5)]);
    sim.wake = Wake::Ignore;
    let e = run(&sim).unwrap_err();
    assert!(e.contains("stalled"), "{e}");
}
