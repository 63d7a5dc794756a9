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
use super::globals::{clear_timeout, now_ceil, now_floor, random_seed, set_timeout, wall_now};
use crate::core::options::decode;
use crate::core::retry::{Decision, Outcome};
use crate::core::scheduler::{Scheduler, Ticket};
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
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<Throttle, JsValue> {
        let value = to_value(&options, "", 0)?;
        let (config, seed) = decode(&value).map_err(|e| option_error(&e))?;
        let scheduler = Scheduler::new(config, seed.unwrap_or_else(random_seed));
        let shared = Rc::new(Shared {
            state: RefCell::new(State { scheduler, waiters: HashMap::new(), timer: None }),
            on_timer: RefCell::new(None),
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

    /// Runs one call under the budget. `send()` performs one attempt and returns a promise of a
    /// `Response` (or any value); `method` decides what may be retried; `signal` (an
    /// `AbortSignal` or `undefined`) cancels a waiting call at once and an in-flight one through
    /// `send`. Resolves with the final response, rejects with the final error or abort reason.
    pub fn run(&self, send: Function, method: String, signal: JsValue) -> Promise {
        let shared = self.shared.clone();
        wasm_bindgen_futures::future_to_promise(run_call(shared, send, method, signal))
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
        set(&out, "breaker", s.breaker.name());
        out.into()
    }
}

/// Grants every call that may go now, then arms the timer for the next chance.
fn pump(shared: &Rc<Shared>) {
    let now = now_floor();
    let (woken, orphans, wake_at) = {
        let mut st = shared.state.borrow_mut();
        let poll = st.scheduler.poll(now);
        let mut woken = Vec::with_capacity(poll.granted.len());
        let mut orphans = Vec::new();
        for (ticket, slot) in poll.granted {
            match st.waiters.remove(&ticket.0) {
                Some(w) => woken.push((w.resolve, slot)),
                None => orphans.push(slot),
            }
        }
        // A grant nobody waits for must not hold a slot.
        for slot in &orphans {
            st.scheduler.revoke(*slot, now);
        }
        (woken, orphans, poll.wake_at)
    };
    for (resolve, slot) in woken {
        let _ = resolve.call1(&JsValue::UNDEFINED, &JsValue::from_f64(slot.0 as f64));
    }
    arm_timer(shared, wake_at);
    if !orphans.is_empty() {
        pump(shared);
    }
}

fn arm_timer(shared: &Rc<Shared>, wake_at: Option<Millis>) {
    let old = {
        let mut st = shared.state.borrow_mut();
        match (wake_at, &st.timer) {
            (Some(t), Some((_, at))) if *at <= t => return,
            (None, _) if !st.waiters.is_empty() => return,
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
            .and_then(|s| Reflect::get(s, &"aborted".into()).ok())
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
    let mut executor = |resolve: Function, reject: Function| {
        shared.state.borrow_mut().waiters.insert(ticket.0, Waiter { resolve, reject });
    };
    let promise = Promise::new(&mut executor);
    watch.waiting.set(Some(ticket.0));
    pump(shared);
    let granted = JsFuture::from(promise).await;
    watch.waiting.set(None);
    let slot = SlotId(granted?.as_f64().unwrap_or(0.0) as u64);
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

/// How one attempt ended, read from what `send()` produced.
fn classify(result: &Result<JsValue, JsValue>, watch: &AbortWatch, wall: Millis) -> (Outcome, Signals) {
    match result {
        Err(_) if watch.aborted() => (Outcome::Aborted, Signals::default()),
        Err(_) => (Outcome::NetworkError, Signals::default()),
        Ok(res) => {
            let status = Reflect::get(res, &"status".into()).ok().and_then(|s| s.as_f64());
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
    let Some(headers) = Reflect::get(res, &"headers".into()).ok().filter(|h| h.is_object()) else {
        return Signals::default();
    };
    let Some(get) = Reflect::get(&headers, &"get".into()).ok().and_then(|f| f.dyn_into::<Function>().ok()) else {
        return Signals::default();
    };
    let values: Vec<(&str, String)> = HEADER_NAMES
        .iter()
        .filter_map(|name| {
            let v = get.call1(&headers, &JsValue::from_str(name)).ok()?.as_string()?;
            Some((*name, v))
        })
        .collect();
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

async fn run_call(shared: Rc<Shared>, send: Function, method: String, signal: JsValue) -> Result<JsValue, JsValue> {
    let watch = AbortWatch::new(&shared, &signal);
    if watch.aborted() {
        return Err(watch.reason(JsValue::UNDEFINED));
    }
    let (mut ticket, mut call) = shared.state.borrow_mut().scheduler.enqueue();
    loop {
        let slot = wait_for_grant(&shared, ticket, &watch).await?;
        let result = match send.call0(&JsValue::UNDEFINED) {
            Ok(p) => JsFuture::from(Promise::resolve(&p)).await,
            Err(e) => Err(e),
        };
        let now = now_ceil();
        let (outcome, signals) = classify(&result, &watch, wall_now());
        let completion = shared.state.borrow_mut().scheduler.complete(&mut call, slot, now, outcome, &signals, &method);
        match completion.decision {
            Decision::Retry { at, .. } => {
                if let Ok(res) = &result {
                    discard_body(res);
                }
                ticket = shared.state.borrow_mut().scheduler.enqueue_retry(at, now_floor());
            }
            Decision::GiveUp { .. } => {
                pump(&shared);
                return match (outcome, result) {
                    (Outcome::Aborted, Err(e)) => Err(watch.reason(e)),
                    (_, result) => result,
                };
            }
        }
    }
}
