//! The pure decision core. No JS types, no clocks: every decision takes `now` as an argument.
//!
//! Times are `u64` milliseconds on a monotonic clock chosen by the caller ([`Millis`]); the
//! only wall-clock input is the one needed to turn an HTTP-date into a delay.

pub mod backoff;
pub mod breaker;
pub mod options;
pub mod retry;
pub mod scheduler;
pub mod share;
pub mod signals;
pub mod window;

/// Milliseconds on the caller's monotonic clock (or, where named so, since the Unix epoch).
pub type Millis = u64;
