//! ratewindow: client-side throttling for rate-limited HTTP APIs.
//!
//! The [`core`] module is pure Rust and knows nothing of JavaScript: the exact rolling window,
//! slot accounting, backoff, header parsing, the retry decision and the breaker. Time is always
//! an argument. The `wasm` module (only on `wasm32`) adapts JS values, timers and `fetch` to it.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod wasm;
