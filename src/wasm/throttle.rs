//! `Throttle`: one budget, and the loop each call runs against it.
//!
//! Borrow discipline: the `RefCell` around the core is borrowed only for pure Rust work. Every
//! call into JS (resolving a promise, a timer, an abort listener) happens after the borrow ends,
//! so a re-entrant JS callback can never find the cell borrowed.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::convert::{option_error, set, to_value};
use super::globals::{clear_timeout, now_ceil, now_floor, random_seed, set_timeout, wall_now, with_names};
use crate::core::options::decode;
use crate::core::retry::{Decision, Outcome};
use crate::core::scheduler::{Completion, Config, Priority, Rejection, Scheduler, Ticket};
use crate::core::signals::{parse_signals, Signals, HEADER_NAMES};
use crate::core::window::SlotId;
use crate::core::Millis;

/// How a waiting call is woken: the two functions of its promise.
struct Waiter {
    resolve: Function,
    reject: Function,
}

struct State {
    scheduler: Scheduler,
    waiters: HashMap<u64, Waiter>,
    /// The armed timer, and when it fires.
    timer: Option<(JsValue, Millis)>,
}

struct Shared {
    state: RefCell<State>,
    /// The one timer callback, reused for every `setTimeout` (it holds only a weak reference).
    on_timer: RefCell<Option<Closure<dyn FnMut()>>>,
    /// `(type, detail) => void`, set while someone listens for events.
    emit: RefCell<Option<Function>>,
    /// `(kind, detail) => Error`: the package's error classes.
    make_error: Option<Function>,
    /// A shared store (Redis, browser tabs), when the budget spans processes.
    store: RefCell<Option<Rc<StoreLink>>>,
    /// Names this budget's slots in a shared store.
    id: String,
}

/// A bound shared store: `acquire(member) → Promise<number>` (0: granted, else ms to wait),
/// `settle(member) → Promise`, `pause(ms) → Promise`.
struct StoreLink {
    store: Object,
    acquire: Function,
    settle: Function,
    pause: Function,
    /// Reject calls while the store is unreachable (else fall back to `fallback_limit`).
    fail: bool,
    fallback_limit: u32,
    degraded: Cell<bool>,
}

enum StoreAnswer {
    Granted,
    Wait(Millis),
    Failed(JsValue),
}

impl StoreLink {
    async fn acquire(&self, member: &str) -> StoreAnswer {
        let called = self.acquire.call1(&self.store, &JsValue::from_str(member));
        let answer = match called {
            Ok(p) => JsFuture::from(Promise::resolve(&p)).await,
            Err(e) => Err(e),
        };
        match answer {
            Ok(v) => match v.as_f64() {
                Some(ms) if ms.is_finite() && ms > 0.0 => StoreAnswer::Wait(ms.ceil().min(86_400_000.0) as Millis),
                Some(0.0) => StoreAnswer::Granted,
                _ => StoreAnswer::Failed(js_sys::TypeError::new("ratewindow: store.acquire() must resolve to a number").into()),
            },
            Err(e) => StoreAnswer::Failed(e),
        }
    }

    async fn settle(&self, member: &str) {
        if let Ok(p) = self.settle.call1(&self.store, &JsValue::from_str(member)) {
            let _ = JsFuture::from(Promise::resolve(&p)).await;
        }
    }

    /// Fire and forget: a store that is down is noticed by the next `acquire`.
    fn notify(&self, f: &Function, arg: JsValue) {
        if let Ok(p) = f.call1(&self.store, &arg) {
            if let Ok(p) = p.dyn_into::<Promise>() {
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = JsFuture::from(p).await;
                });
            }
        }
    }
}

impl Shared {
    /// Sends an event to the JS listeners. Never call this while `state` is borrowed.
    fn emit(&self, kind: &str, detail: impl FnOnce(&Object)) {
        let emit = self.emit.borrow().clone();
        if let Some(emit) = emit {
            let d = Object::new();
            detail(&d);
            let _ = emit.call2(&JsValue::UNDEFINED, &JsValue::from_str(kind), &d);
        }
    }

    fn error(&self, kind: &str, message: &str, detail: &Object) -> JsValue {
        set(detail, "message", message);
        match &self.make_error {
            Some(f) => f.call2(&JsValue::UNDEFINED, &JsValue::from_str(kind), detail).unwrap_or_else(|e| e),
            None => js_sys::Error::new(message).into(),
        }
    }

    /// A waiting call dropped because its `maxWaitMs` ran out (or a pause outlasts it): says so
    /// in a `dropped` event and returns its `RateLimitError`.
    fn max_wait_error(&self, retry_at: Option<Millis>) -> JsValue {
        self.emit("dropped", |d| set(d, "reason", "max-wait"));
        self.rejection_error(Rejection::WouldWait { retry_at })
    }

    fn rejection_error(&self, rejection: Rejection) -> JsValue {
        let detail = Object::new();
        match rejection {
            Rejection::QueueFull { max_queue } => {
                set(&detail, "maxQueue", max_queue);
                self.error("queue-full", &format!("ratewindow: the queue is full ({max_queue} calls waiting)"), &detail)
            }
            Rejection::WouldWait { retry_at } => {
                let now = now_floor();
                let wall = js_sys::Date::now();
                let retry_at = retry_at.map(|t| wall + t.saturating_sub(now) as f64);
                set(&detail, "retryAt", retry_at.map_or(JsValue::NULL, JsValue::from_f64));
                self.error("rate-limit", "ratewindow: the call could not be sent within maxWaitMs", &detail)
            }
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some((id, _)) = self.state.get_mut().timer.take() {
            clear_timeout(&id);
        }
    }
}

/// One rate budget: the rolling windows, the pause, the breaker and the queue of waiting calls.
#[wasm_bindgen]
pub struct Throttle {
    shared: Rc<Shared>,
}

#[wasm_bindgen]
impl Throttle {
    /// Validates `options` (a `TypeError`/`RangeError` naming the field when invalid).
    /// `make_error(kind, detail)` builds the package's error objects (`"queue-full"`,
    /// `"rate-limit"`); without it, plain `Error`s are used.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue, make_error: Option<Function>) -> Result<Throttle, JsValue> {
        let (config, seed) = decode_options(&options)?;
        let scheduler = Scheduler::new(config, seed.unwrap_or_else(random_seed));
        let shared = Rc::new(Shared {
            state: RefCell::new(State { scheduler, waiters: HashMap::new(), timer: None }),
            on_timer: RefCell::new(None),
            emit: RefCell::new(None),
            make_error,
            store: RefCell::new(None),
            id: format!("{:016x}", random_seed()),
        });
        let weak = Rc::downgrade(&shared);
        let on_timer = Closure::<dyn FnMut()>::new(move || {
            if let Some(shared) = weak.upgrade() {
                shared.state.borrow_mut().timer = None;
                pump(&shared);
            }
        });
        *shared.on_timer.borrow_mut() = Some(on_timer);
        Ok(Throttle { shared })
    }

    /// Names the first setting in which `options` differ from this budget's (`undefined` when
    /// they agree): budgets shared by `key` must not silently diverge.
    pub fn conflict(&self, options: JsValue) -> Result<Option<String>, JsValue> {
        let (theirs, _) = decode_options(&options)?;
        let st = self.shared.state.borrow();
        Ok(first_difference(st.scheduler.config(), &theirs).map(str::to_string))
    }

    /// The windows as `[[limit, windowMs], …]` and the safety margin, for binding a store.
    pub fn windows(&self) -> js_sys::Array {
        let st = self.shared.state.borrow();
        st.scheduler
            .config()
            .windows
            .iter()
            .map(|&(l, w)| JsValue::from(js_sys::Array::of2(&l.into(), &JsValue::from_f64(w as f64))))
            .collect()
    }

    /// The safety margin added to completion times, in ms.
    #[wasm_bindgen(js_name = marginMs)]
    pub fn margin_ms(&self) -> f64 {
        self.shared.state.borrow().scheduler.config().margin as f64
    }

    /// Runs every decision also against a shared `store` (see `StoreLink`). `on_error` is
    /// `"fail"` (reject calls while it is unreachable) or `"local"` (fall back to a local limit
    /// of `fallback_limit` per window and say so in a `store-error` event).
    #[wasm_bindgen(js_name = setStore)]
    pub fn set_store(&self, store: JsValue, on_error: JsValue, fallback_limit: u32) -> Result<(), JsValue> {
        if !store.is_object() {
            return Err(js_sys::TypeError::new("ratewindow: `store.bind()` must return an object").into());
        }
        let store: Object = store.unchecked_into();
        let on_error = on_error.as_string().unwrap_or_default();
        let on_error = on_error.as_str();
        let func = |name: &str| -> Result<Function, JsValue> {
            Reflect::get(&store, &JsValue::from_str(name))?
                .dyn_into::<Function>()
                .map_err(|_| js_sys::TypeError::new(&format!("ratewindow: `store.{name}` must be a function")).into())
        };
        let fail = match on_error {
            "fail" => true,
            "local" => false,
            other => {
                return Err(js_sys::RangeError::new(&format!(
                    "ratewindow: `onStoreError` must be \"local\" or \"fail\", got \"{other}\""
                ))
                .into())
            }
        };
        let link = StoreLink {
            acquire: func("acquire")?,
            settle: func("settle")?,
            pause: func("pause")?,
            store,
            fail,
            fallback_limit: fallback_limit.max(1),
            degraded: Cell::new(false),
        };
        *self.shared.store.borrow_mut() = Some(Rc::new(link));
        Ok(())
    }

    /// Sets (or, with `undefined`, clears) the event callback `(type, detail) => void`.
    #[wasm_bindgen(js_name = setEmitter)]
    pub fn set_emitter(&self, emit: Option<Function>) {
        *self.shared.emit.borrow_mut() = emit;
    }

    /// Runs one call under the budget. `send()` performs one attempt and returns a promise of a
    /// `Response` (or any value); `method` decides what may be retried; `signal` (an
    /// `AbortSignal` or `undefined`) cancels a waiting call at once and an in-flight one through
    /// `send`. Resolves with the final response, rejects with the final error or abort reason.
    /// `priority` is `"high" | "auto" | "low"` (else `auto`); `rate_limited(value, failed)`,
    /// when given, says whether a non-fetch result means "rate limited" by returning
    /// `{ retryAfterMs? }` (or `true`), else a falsy value.
    ///
    /// Every argument is taken as a plain JS value and checked here, so that no value the JS
    /// side passes can reach wasm-bindgen's typed glue and trap the module.
    pub fn run(
        &self,
        send: JsValue,
        method: JsValue,
        signal: JsValue,
        priority: JsValue,
        rate_limited: JsValue,
    ) -> Promise {
        let shared = self.shared.clone();
        let Ok(send) = send.dyn_into::<Function>() else {
            return Promise::reject(&js_sys::TypeError::new("ratewindow: `send` must be a function").into());
        };
        let method = method.as_string().unwrap_or_else(|| "GET".to_string());
        let rate_limited = rate_limited.dyn_into::<Function>().ok();
        let priority = priority.as_string().as_deref().and_then(Priority::parse).unwrap_or_default();
        let Some(slot) = CallSlot::take() else {
            let detail = Object::new();
            set(&detail, "maxQueue", MAX_CALLS_AT_ONCE);
            shared.emit("dropped", |d| set(d, "reason", "queue-full"));
            let message = format!("ratewindow: too many calls at once ({MAX_CALLS_AT_ONCE} queued or in flight in this realm)");
            return Promise::reject(&shared.error("queue-full", &message, &detail));
        };
        let call = CallSpec { send, method, signal, priority, rate_limited };
        wasm_bindgen_futures::future_to_promise(async move {
            let result = run_call(shared, call).await;
            drop(slot);
            result
        })
    }

    /// Counters and the current view of the budget (see the README for each field).
    pub fn stats(&self) -> JsValue {
        let now = now_floor();
        let s = self.shared.state.borrow_mut().scheduler.stats(now);
        let out = Object::new();
        set(&out, "inWindow", s.in_window);
        set(&out, "limit", s.limit);
        set(&out, "inFlight", s.in_flight);
        set(&out, "queued", s.queued);
        set(&out, "remaining", s.remaining);
        set(&out, "nextSlotInMs", s.next_slot_in as f64);
        set(&out, "pausedForMs", s.paused_for as f64);
        set(&out, "sent", s.sent as f64);
        set(&out, "retried", s.retried as f64);
        set(&out, "rateLimited", s.rate_limited as f64);
        set(&out, "dropped", s.dropped as f64);
        set(&out, "breaker", s.breaker.name());
        out.into()
    }
}

/// Calls queued or in flight at once, over every throttle of this module instance. Each holds
/// about 5 JS values (10 with an AbortSignal) in wasm-bindgen's externref table, which V8 caps
/// at 10 M entries: growing it past that traps the module for every caller. Beyond this many
/// calls, `run` rejects with a `QueueFullError` instead (measured: the table reached 8.4 M
/// entries of capacity at 500,000 waiting calls with signals, and a million trapped).
const MAX_CALLS_AT_ONCE: u32 = 400_000;

thread_local! {
    static CALLS_AT_ONCE: Cell<u32> = const { Cell::new(0) };
}

/// One call's place under [`MAX_CALLS_AT_ONCE`], given back when dropped.
struct CallSlot;

impl CallSlot {
    fn take() -> Option<CallSlot> {
        CALLS_AT_ONCE.with(|n| {
            let now = n.get();
            (now < MAX_CALLS_AT_ONCE).then(|| {
                n.set(now + 1);
                CallSlot
            })
        })
    }
}

impl Drop for CallSlot {
    fn drop(&mut self) {
        CALLS_AT_ONCE.with(|n| n.set(n.get().saturating_sub(1)));
    }
}

/// Grants every call that may go now, then arms the timer for the next chance.
fn pump(shared: &Rc<Shared>) {
    let round = poll_round(shared, None);
    finish_round(shared, round);
}

/// What one scheduling round decided, before any JS runs.
struct Round {
    /// The ticket of a caller about to wait (see [`poll_round`]) and what became of it.
    mine: Option<u64>,
    own: Option<Result<SlotId, ()>>,
    woken: Vec<(Function, SlotId)>,
    expired: Vec<Waiter>,
    retry_at: Option<Millis>,
    orphans: bool,
    wake_at: Option<Millis>,
    resumed: bool,
}

/// The Rust half of a round: polls the scheduler and takes the waiters it concerns, calling no
/// JS. `mine`: the ticket of a call about to wait, which has no waiter yet; if it is granted (or
/// expired) in this round, that is returned in `own` instead of being handed to a waiter.
fn poll_round(shared: &Rc<Shared>, mine: Option<u64>) -> Round {
    let now = now_floor();
    let mut st = shared.state.borrow_mut();
    let poll = st.scheduler.poll(now);
    let mut own = None;
    let mut expired = Vec::with_capacity(poll.expired.len());
    for t in &poll.expired {
        if mine == Some(t.0) {
            own = Some(Err(()));
        } else if let Some(w) = st.waiters.remove(&t.0) {
            expired.push(w);
        }
    }
    let mut woken = Vec::with_capacity(poll.granted.len());
    let mut orphans = false;
    for (ticket, slot) in poll.granted {
        if mine == Some(ticket.0) {
            own = Some(Ok(slot));
            continue;
        }
        match st.waiters.remove(&ticket.0) {
            Some(w) => woken.push((w.resolve, slot)),
            None => {
                // A grant nobody waits for must not hold a slot.
                st.scheduler.revoke(slot, now);
                orphans = true;
            }
        }
    }
    Round {
        mine,
        own,
        woken,
        expired,
        retry_at: poll.expired_retry_at,
        orphans,
        wake_at: poll.wake_at,
        resumed: poll.resumed,
    }
}

/// The JS half of a round: events, rejections, wake-ups, the timer. Listeners may re-enter here,
/// so a caller about to wait must have registered its waiter before this runs.
fn finish_round(shared: &Rc<Shared>, round: Round) {
    if round.resumed {
        shared.emit("resume", |_| {});
    }
    // Calls whose `maxWaitMs` ran out while they waited (behind `maxConcurrent`, a full window).
    for w in round.expired {
        let _ = w.reject.call1(&JsValue::UNDEFINED, &shared.max_wait_error(round.retry_at));
    }
    for (resolve, slot) in round.woken {
        let _ = resolve.call1(&JsValue::UNDEFINED, &JsValue::from_f64(slot.0 as f64));
    }
    arm_timer(shared, round.wake_at, round.mine.is_some() && round.own.is_none());
    if round.orphans {
        pump(shared);
    }
}

/// `about_to_wait`: a call that was not granted is about to register as a waiter.
fn arm_timer(shared: &Rc<Shared>, wake_at: Option<Millis>, about_to_wait: bool) {
    let old = {
        let mut st = shared.state.borrow_mut();
        match (wake_at, &st.timer) {
            (Some(t), Some((_, at))) if *at <= t => return,
            (None, _) if about_to_wait || !st.waiters.is_empty() => return,
            (None, None) => return,
            _ => st.timer.take(),
        }
    };
    if let Some((id, _)) = old {
        clear_timeout(&id);
    }
    let Some(at) = wake_at else { return };
    let delay = at.saturating_sub(now_floor());
    let id = match shared.on_timer.borrow().as_ref() {
        Some(cb) => set_timeout(cb.as_ref().unchecked_ref(), delay),
        None => return,
    };
    shared.state.borrow_mut().timer = Some((id, at));
}

/// Watches a call's `AbortSignal` while it exists; removes its listener when dropped.
struct AbortWatch {
    signal: Option<Object>,
    /// The ticket the call is waiting on, if it is waiting.
    waiting: Rc<Cell<Option<u64>>>,
    listener: Option<Closure<dyn FnMut()>>,
}

impl AbortWatch {
    fn new(shared: &Rc<Shared>, signal: &JsValue) -> AbortWatch {
        let waiting = Rc::new(Cell::new(None));
        let mut watch = AbortWatch { signal: None, waiting: waiting.clone(), listener: None };
        if !signal.is_object() {
            return watch;
        }
        let signal: Object = signal.clone().unchecked_into();
        let add = Reflect::get(&signal, &"addEventListener".into()).ok().and_then(|f| f.dyn_into::<Function>().ok());
        if let Some(add) = add {
            let weak: Weak<Shared> = Rc::downgrade(shared);
            let sig = signal.clone();
            let listener = Closure::<dyn FnMut()>::new(move || {
                let (Some(shared), Some(ticket)) = (weak.upgrade(), waiting.get()) else { return };
                let waiter = {
                    let mut st = shared.state.borrow_mut();
                    if st.scheduler.cancel(Ticket(ticket)) {
                        st.waiters.remove(&ticket)
                    } else {
                        None
                    }
                };
                if let Some(w) = waiter {
                    let _ = w.reject.call1(&JsValue::UNDEFINED, &abort_reason(&sig));
                    pump(&shared);
                }
            });
            let _ = add.call2(&signal, &"abort".into(), listener.as_ref());
            watch.listener = Some(listener);
        }
        watch.signal = Some(signal);
        watch
    }

    fn aborted(&self) -> bool {
        self.signal
            .as_ref()
            .and_then(|s| with_names(|n| Reflect::get(s, &n.aborted)).ok())
            .is_some_and(|v| v.is_truthy())
    }

    fn reason(&self, fallback: JsValue) -> JsValue {
        match &self.signal {
            Some(s) => {
                let r = abort_reason(s);
                if r.is_undefined() {
                    fallback
                } else {
                    r
                }
            }
            None => fallback,
        }
    }
}

impl Drop for AbortWatch {
    fn drop(&mut self) {
        if let (Some(signal), Some(listener)) = (&self.signal, &self.listener) {
            let remove = Reflect::get(signal, &"removeEventListener".into())
                .ok()
                .and_then(|f| f.dyn_into::<Function>().ok());
            if let Some(remove) = remove {
                let _ = remove.call2(signal, &"abort".into(), listener.as_ref());
            }
        }
    }
}

fn abort_reason(signal: &Object) -> JsValue {
    match Reflect::get(signal, &"reason".into()) {
        Ok(r) if !r.is_undefined() => r,
        _ => {
            let e = js_sys::Error::new("This operation was aborted");
            e.set_name("AbortError");
            e.into()
        }
    }
}

/// Waits until the scheduler grants `ticket` a slot (or the call is aborted).
async fn wait_for_grant(shared: &Rc<Shared>, ticket: Ticket, watch: &AbortWatch) -> Result<SlotId, JsValue> {
    let round = poll_round(shared, Some(ticket.0));
    let slot = match round.own {
        // The common case: nobody ahead and room now. Granted at once, with no promise to wait on.
        Some(Ok(slot)) => {
            finish_round(shared, round);
            slot
        }
        Some(Err(())) => {
            let retry_at = round.retry_at;
            finish_round(shared, round);
            return Err(shared.max_wait_error(retry_at));
        }
        None => {
            // Registered before the round's JS runs: a listener that re-enters and pumps
            // then finds this call's waiter.
            let mut executor = |resolve: Function, reject: Function| {
                shared.state.borrow_mut().waiters.insert(ticket.0, Waiter { resolve, reject });
            };
            let promise = Promise::new(&mut executor);
            watch.waiting.set(Some(ticket.0));
            finish_round(shared, round);
            let granted = JsFuture::from(promise).await;
            watch.waiting.set(None);
            SlotId(granted?.as_f64().unwrap_or(0.0) as u64)
        }
    };
    if watch.aborted() {
        // Aborted between the grant and the send: the request never left, so neither does
        // its slot count.
        let now = now_floor();
        shared.state.borrow_mut().scheduler.revoke(slot, now);
        pump(shared);
        return Err(watch.reason(JsValue::UNDEFINED));
    }
    Ok(slot)
}

/// How one attempt ended, read from what `send()` produced (and the caller's hook, if any).
fn classify(
    result: &Result<JsValue, JsValue>,
    watch: &AbortWatch,
    wall: Millis,
    hook: Option<&Function>,
) -> (Outcome, Signals) {
    if let Some(hook) = hook {
        let (value, failed) = match result {
            Ok(v) => (v, false),
            Err(e) => (e, true),
        };
        // A hook that throws counts as "not rate limited": it must not lose the call.
        let verdict = hook.call2(&JsValue::UNDEFINED, value, &JsValue::from_bool(failed)).unwrap_or(JsValue::FALSE);
        if verdict.is_truthy() {
            let retry_after_ms = Reflect::get(&verdict, &"retryAfterMs".into())
                .ok()
                .and_then(|v| v.as_f64())
                .filter(|v| v.is_finite() && *v >= 0.0)
                .map(|v| v.ceil() as Millis);
            return (Outcome::Status(429), Signals { retry_after_ms, ..Signals::default() });
        }
    }
    match result {
        Err(_) if watch.aborted() => (Outcome::Aborted, Signals::default()),
        Err(_) => (Outcome::NetworkError, Signals::default()),
        Ok(res) => {
            let status = with_names(|n| Reflect::get(res, &n.status)).ok().and_then(|s| s.as_f64());
            let status = match status {
                Some(s) if (100.0..=599.0).contains(&s) => s as u16,
                // Not a Response (a `schedule`d function's value): a plain success.
                _ => 200,
            };
            (Outcome::Status(status), read_signals(res, wall))
        }
    }
}

fn read_signals(res: &JsValue, wall: Millis) -> Signals {
    let values: Vec<(&str, String)> = with_names(|n| {
        let Some(headers) = Reflect::get(res, &n.headers).ok().filter(|h| h.is_object()) else {
            return Vec::new();
        };
        let Some(get) = Reflect::get(&headers, &n.get).ok().and_then(|f| f.dyn_into::<Function>().ok()) else {
            return Vec::new();
        };
        HEADER_NAMES
            .iter()
            .zip(&n.header_names)
            .filter_map(|(name, js_name)| {
                let v = get.call1(&headers, js_name).ok()?.as_string()?;
                Some((*name, v))
            })
            .collect()
    });
    parse_signals(|name| values.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()), wall)
}

/// Lets go of a response we will not return (a retried 429 or 5xx), so its connection frees.
fn discard_body(res: &JsValue) {
    let Some(body) = Reflect::get(res, &"body".into()).ok().filter(|b| b.is_object()) else { return };
    let Some(cancel) = Reflect::get(&body, &"cancel".into()).ok().and_then(|f| f.dyn_into::<Function>().ok()) else {
        return;
    };
    if let Ok(p) = cancel.call0(&body) {
        if let Ok(p) = p.dyn_into::<Promise>() {
            wasm_bindgen_futures::spawn_local(async move {
                let _ = JsFuture::from(p).await;
            });
        }
    }
}

struct CallSpec {
    send: Function,
    method: String,
    signal: JsValue,
    priority: Priority,
    rate_limited: Option<Function>,
}

async fn run_call(shared: Rc<Shared>, spec: CallSpec) -> Result<JsValue, JsValue> {
    let watch = AbortWatch::new(&shared, &spec.signal);
    if watch.aborted() {
        return Err(watch.reason(JsValue::UNDEFINED));
    }
    let queued = shared.state.borrow_mut().scheduler.enqueue(spec.priority, now_floor());
    let (mut ticket, mut call) = match queued {
        Ok(q) => q,
        Err(rejection) => {
            shared.emit("dropped", |d| set(d, "reason", rejection_reason(rejection)));
            return Err(shared.rejection_error(rejection));
        }
    };
    shared.emit("queued", |d| set(d, "priority", priority_name(spec.priority)));
    let store = shared.store.borrow().clone();
    loop {
        let slot = wait_for_grant(&shared, ticket, &watch).await?;
        // Names this attempt's slot in the shared store (only built when there is one).
        let member = store.as_ref().map(|_| format!("{}:{}", shared.id, slot.0)).unwrap_or_default();
        let mut in_store = false;
        if let Some(link) = &store {
            match link.acquire(&member).await {
                StoreAnswer::Granted => {
                    in_store = true;
                    if link.degraded.replace(false) {
                        shared.state.borrow_mut().scheduler.set_fallback(None);
                        shared.emit("store-recovered", |_| {});
                    }
                }
                StoreAnswer::Wait(ms) => {
                    // The shared budget is full or paused: nothing here goes before then.
                    let now = now_floor();
                    {
                        let mut st = shared.state.borrow_mut();
                        st.scheduler.revoke(slot, now);
                        st.scheduler.hold_until(now.saturating_add(ms));
                        ticket = st.scheduler.enqueue_retry(now.saturating_add(ms), now);
                    }
                    continue;
                }
                StoreAnswer::Failed(error) => {
                    if link.fail {
                        shared.state.borrow_mut().scheduler.revoke(slot, now_floor());
                        pump(&shared);
                        let detail = Object::new();
                        set(&detail, "cause", error);
                        return Err(shared.error("store", "ratewindow: the shared store is unreachable", &detail));
                    }
                    if !link.degraded.replace(true) {
                        shared.state.borrow_mut().scheduler.set_fallback(Some(link.fallback_limit));
                        let limit = link.fallback_limit;
                        shared.emit("store-error", |d| {
                            set(d, "error", error.clone());
                            set(d, "fallbackLimit", limit);
                        });
                    }
                }
            }
        }
        let attempt = call.attempt + 1;
        shared.emit("sent", |d| {
            set(d, "attempt", attempt);
            set(d, "method", spec.method.as_str());
        });
        let started = now_floor();
        let (result, threw) = match spec.send.call0(&JsValue::UNDEFINED) {
            Ok(p) => (JsFuture::from(Promise::resolve(&p)).await, false),
            // A synchronous throw is a programming error, not a network error: never retried.
            Err(e) => (Err(e), true),
        };
        let now = now_ceil();
        let (outcome, signals) = classify(&result, &watch, wall_now(), spec.rate_limited.as_ref());
        let completion = shared.state.borrow_mut().scheduler.complete(&mut call, slot, now, outcome, &signals, &spec.method);
        if let (Some(link), true) = (&store, in_store) {
            if let Some(until) = completion.paused_until {
                link.notify(&link.pause, JsValue::from_f64(until.saturating_sub(now) as f64));
            }
            // Awaited, so that a process that exits after its last call leaves no slot held
            // in the store (it would stay held until its lease ends). A failure is left to the
            // lease: the next `acquire` notices a store that is down.
            link.settle(&member).await;
        }
        report(&shared, &completion, outcome, &signals, attempt, now.saturating_sub(started));
        match completion.decision {
            Decision::Retry { at, .. } if !threw => {
                if let Ok(res) = &result {
                    discard_body(res);
                }
                ticket = shared.state.borrow_mut().scheduler.enqueue_retry(at, now_floor());
            }
            _ => {
                pump(&shared);
                return match (outcome, result) {
                    (Outcome::Aborted, Err(e)) => Err(watch.reason(e)),
                    (_, result) => result,
                };
            }
        }
    }
}

/// Emits the events of one completed attempt and rejects the calls a new pause dropped.
fn report(shared: &Rc<Shared>, c: &Completion, outcome: Outcome, signals: &Signals, attempt: u32, took: Millis) {
    shared.emit("settled", |d| {
        set(d, "attempt", attempt);
        set(d, "ms", took as f64);
        match outcome {
            Outcome::Status(status) => set(d, "status", status),
            Outcome::NetworkError => set(d, "error", "network"),
            Outcome::Aborted => set(d, "error", "aborted"),
        }
    });
    if outcome == Outcome::Status(429) {
        shared.emit("ratelimited", |d| {
            set(d, "attempt", attempt);
            set(d, "retryAfterMs", signals.server_wait_ms().map_or(JsValue::NULL, |v| JsValue::from_f64(v as f64)));
        });
    }
    if let Some(until) = c.paused_until {
        let now = now_floor();
        shared.emit("pause", |d| set(d, "forMs", until.saturating_sub(now) as f64));
    }
    if c.breaker_opened {
        shared.emit("breaker-open", |_| {});
    }
    if c.breaker_closed {
        shared.emit("breaker-close", |_| {});
    }
    if let Decision::Retry { at, server_given } = c.decision {
        let now = now_floor();
        shared.emit("retry", |d| {
            set(d, "attempt", attempt + 1);
            set(d, "delayMs", at.saturating_sub(now) as f64);
            set(d, "serverGiven", server_given);
        });
    }
    if !c.dropped.is_empty() {
        let waiters: Vec<Waiter> = {
            let mut st = shared.state.borrow_mut();
            c.dropped.iter().filter_map(|t| st.waiters.remove(&t.0)).collect()
        };
        for w in waiters {
            let _ = w.reject.call1(&JsValue::UNDEFINED, &shared.max_wait_error(c.paused_until));
        }
    }
}

fn rejection_reason(r: Rejection) -> &'static str {
    match r {
        Rejection::QueueFull { .. } => "queue-full",
        Rejection::WouldWait { .. } => "max-wait",
    }
}

fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::High => "high",
        Priority::Auto => "auto",
        Priority::Low => "low",
    }
}

fn decode_options(options: &JsValue) -> Result<(Config, Option<u64>), JsValue> {
    let value = to_value(options, "", 0)?;
    decode(&value).map_err(|e| option_error(&e))
}

/// The first setting (by option name) in which two configurations differ.
fn first_difference(a: &Config, b: &Config) -> Option<&'static str> {
    let checks: [(&'static str, bool); 13] = [
        ("limit/windowMs/windows", a.windows == b.windows),
        ("safetyMarginMs", a.margin == b.margin),
        ("retry", a.retry == b.retry),
        ("breaker.threshold", a.breaker_threshold == b.breaker_threshold),
        ("breaker.cooldownMs", a.breaker_cooldown == b.breaker_cooldown),
        ("retryBudget.tokens", a.budget_tokens == b.budget_tokens),
        ("retryBudget.ratio", a.budget_ratio == b.budget_ratio),
        ("maxConcurrent", a.max_concurrent == b.max_concurrent),
        ("maxQueue", a.max_queue == b.max_queue),
        ("maxWaitMs", a.max_wait == b.max_wait),
        ("minIntervalMs", a.min_interval == b.min_interval),
        ("priorityAgingMs", a.aging == b.aging),
        ("learnShare", a.learn_share == b.learn_share),
    ];
    checks.iter().find(|(_, same)| !same).map(|(name, _)| *name)
}
