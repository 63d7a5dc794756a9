//! Globals bound by name (not through `window`), so the same module runs in Node and browsers.

use js_sys::Function;
use wasm_bindgen::prelude::*;

use crate::core::Millis;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout_js(handler: &Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout_js(id: &JsValue);
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// Monotonic milliseconds, rounded down: for deciding whether something may happen now.
pub fn now_floor() -> Millis {
    performance_now().floor().max(0.0) as Millis
}

/// Monotonic milliseconds, rounded up: for recording when something happened at the latest.
pub fn now_ceil() -> Millis {
    performance_now().ceil().max(0.0) as Millis
}

/// Wall-clock Unix milliseconds (for HTTP-dates).
pub fn wall_now() -> Millis {
    js_sys::Date::now().max(0.0) as Millis
}

/// Calls `handler` once after `ms`; returns the timer's handle for [`clear_timeout`].
pub fn set_timeout(handler: &Function, ms: Millis) -> JsValue {
    set_timeout_js(handler, ms as f64)
}

/// Cancels a timer from [`set_timeout`].
pub fn clear_timeout(id: &JsValue) {
    clear_timeout_js(id);
}

/// A random seed for backoff jitter (crypto-quality where available, the clock otherwise).
pub fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => (performance_now() * 1_000.0) as u64 ^ (js_sys::Date::now() as u64),
    }
}

/// JS strings used on every call (property and header names), made once instead of being
/// decoded from Wasm memory again for each request.
pub struct Names {
    /// `"status"`.
    pub status: JsValue,
    /// `"headers"`.
    pub headers: JsValue,
    /// `"get"`.
    pub get: JsValue,
    /// `"aborted"`.
    pub aborted: JsValue,
    /// The rate-limit header names, in the order of `HEADER_NAMES`.
    pub header_names: Vec<JsValue>,
}

thread_local! {
    static NAMES: Names = Names {
        status: JsValue::from_str("status"),
        headers: JsValue::from_str("headers"),
        get: JsValue::from_str("get"),
        aborted: JsValue::from_str("aborted"),
        header_names: crate::core::signals::HEADER_NAMES.iter().map(|n| JsValue::from_str(n)).collect(),
    };
}

/// Runs `f` with the cached [`Names`].
pub fn with_names<R>(f: impl FnOnce(&Names) -> R) -> R {
    NAMES.with(f)
}
