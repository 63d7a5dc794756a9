//! The Wasm binding, run by wasm-bindgen-test in Node and (with WASM_BINDGEN_USE_BROWSER=1) in
//! headless Chromium: options errors at the edge, the window enforced through real timers and
//! promises, a 429's Retry-After honoured, an abort while queued.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Function, Object, Promise, Reflect};
use ratewindow::wasm::Throttle;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).unwrap()
}

/// A stub `send` that records when it was called and answers with the statuses in `script`
/// (then 200), each after `delay` ms, with the given Retry-After value.
fn stub(log: &Array, script: &str, delay: u32, retry_after: &str) -> Function {
    let make = Function::new_with_args(
        "log, script, delay, retryAfter",
        "let i = 0; return () => { const n = i++; log.push(performance.now()); \
         const status = n < script.length ? script[n] : 200; \
         return new Promise(r => setTimeout(() => r({ status, headers: { get: (k) => \
         k === 'retry-after' && status === 429 ? retryAfter : null } }), delay)); };",
    );
    make.call4(
        &JsValue::UNDEFINED,
        log,
        &script
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| JsValue::from_f64(s.parse().unwrap()))
            .collect::<Array>(),
        &JsValue::from(delay),
        &JsValue::from_str(retry_after),
    )
    .unwrap()
    .dyn_into()
    .unwrap()
}

async fn sleep(ms: i32) {
    let p = Promise::new(&mut |resolve, _| {
        Function::new_with_args("r, ms", "setTimeout(r, ms)").call2(&JsValue::NULL, &resolve, &ms.into()).unwrap();
    });
    JsFuture::from(p).await.unwrap();
}

#[wasm_bindgen_test]
fn invalid_options_throw_named_errors() {
    let err = Throttle::new(obj(&[("limit", JsValue::from_str("200"))]), None).err().unwrap();
    assert!(err.is_instance_of::<js_sys::TypeError>());
    assert!(get(&err, "message").as_string().unwrap().contains("`limit`"));
    let err = Throttle::new(obj(&[("windowMs", JsValue::from_f64(f64::INFINITY))]), None).err().unwrap();
    assert!(err.is_instance_of::<js_sys::RangeError>());
    assert!(get(&err, "message").as_string().unwrap().contains("`windowMs`"));
    let jitter = obj(&[("jitter", JsValue::from_str("wobbly"))]);
    let err = Throttle::new(obj(&[("retry", jitter)]), None).err().unwrap();
    assert!(err.is_instance_of::<js_sys::RangeError>());
    assert!(Throttle::new(JsValue::UNDEFINED, None).is_ok());
}

#[wasm_bindgen_test]
async fn the_window_is_completion_anchored() {
    let t = Throttle::new(obj(&[("limit", 2.into()), ("windowMs", 80.into())]), None).unwrap();
    let log = Array::new();
    let send = stub(&log, "", 20, "");
    let calls: Array = (0..5).map(|_| JsValue::from(t.run(send.clone().into(), JsValue::from_str("GET"), JsValue::UNDEFINED, JsValue::UNDEFINED, JsValue::UNDEFINED))).collect();
    let results = JsFuture::from(Promise::all(&calls)).await.unwrap();
    let results: Array = results.unchecked_into();
    assert_eq!(results.length(), 5);
    let times: Vec<f64> = log.iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(times.len(), 5);
    // Sends 3 and 4 wait for sends 1 and 2 to settle (≥ 20 ms) plus the window (80 ms).
    assert!(times[2] - times[0] >= 99.0, "{times:?}");
    assert!(times[4] - times[2] >= 99.0, "{times:?}");
    assert_eq!(get(&t.stats(), "sent").as_f64(), Some(5.0));
}

#[wasm_bindgen_test]
async fn retry_after_is_honoured_and_the_final_answer_returned() {
    let t = Throttle::new(obj(&[("limit", 10.into()), ("windowMs", 1000.into())]), None).unwrap();
    let log = Array::new();
    let send = stub(&log, "429", 5, "1");
    let res = JsFuture::from(t.run(send.into(), JsValue::from_str("POST"), JsValue::UNDEFINED, JsValue::UNDEFINED, JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(get(&res, "status").as_f64(), Some(200.0));
    let times: Vec<f64> = log.iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(times.len(), 2);
    assert!(times[1] - times[0] >= 1000.0, "retried after {} ms", times[1] - times[0]);
    let stats = t.stats();
    assert_eq!(get(&stats, "rateLimited").as_f64(), Some(1.0));
    assert_eq!(get(&stats, "retried").as_f64(), Some(1.0));

    // Retries exhausted: the 429 itself comes back.
    let t = Throttle::new(obj(&[("retry", obj(&[("limit", 1.into())])), ("breaker", false.into()), ("learnShare", false.into())]), None).unwrap();
    let send = stub(&Array::new(), "429,429,429", 1, "0");
    let res = JsFuture::from(t.run(send.into(), JsValue::from_str("GET"), JsValue::UNDEFINED, JsValue::UNDEFINED, JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(get(&res, "status").as_f64(), Some(429.0));
}

#[wasm_bindgen_test]
async fn an_abort_while_queued_rejects_at_once_and_frees_the_place() {
    let t = Throttle::new(obj(&[("limit", 1.into()), ("windowMs", 10_000.into())]), None).unwrap();
    let log = Array::new();
    let send = stub(&log, "", 1, "");
    JsFuture::from(t.run(send.clone().into(), JsValue::from_str("GET"), JsValue::UNDEFINED, JsValue::UNDEFINED, JsValue::UNDEFINED)).await.unwrap();
    let controller = Function::new_no_args("return new AbortController()").call0(&JsValue::UNDEFINED).unwrap();
    let signal = get(&controller, "signal");
    let queued = t.run(send.clone().into(), JsValue::from_str("GET"), signal, JsValue::UNDEFINED, JsValue::UNDEFINED);
    sleep(5).await;
    assert_eq!(get(&t.stats(), "queued").as_f64(), Some(1.0));
    let abort: Function = get(&controller, "abort").dyn_into().unwrap();
    abort.call1(&controller, &JsValue::from_str("stop")).unwrap();
    let err = JsFuture::from(queued).await.unwrap_err();
    assert_eq!(err.as_string().as_deref(), Some("stop"));
    assert_eq!(get(&t.stats(), "queued").as_f64(), Some(0.0));
    assert_eq!(log.length(), 1, "the aborted call was never sent");
}

#[wasm_bindgen_test]
async fn wrong_argument_types_reject_instead_of_trapping() {
    let t = Throttle::new(JsValue::UNDEFINED, None).unwrap();
    let n = JsValue::from(5);
    let err = JsFuture::from(t.run(n.clone(), n.clone(), n.clone(), n.clone(), n.clone())).await.unwrap_err();
    assert!(err.is_instance_of::<js_sys::TypeError>());
    // A number where strings go is read as "not given"; the module is still alive.
    let send = stub(&Array::new(), "", 1, "");
    let res = JsFuture::from(t.run(send.into(), n.clone(), n.clone(), n.clone(), n)).await.unwrap();
    assert_eq!(get(&res, "status").as_f64(), Some(200.0));
}
