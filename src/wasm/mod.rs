//! The thin wasm-bindgen layer: converts JS values to the core's types and back, binds the
//! globals (`setTimeout`, `performance.now`) that exist in Node, browsers and workers alike, and
//! runs each call's loop (wait for a slot → send → settle → retry or return) against the core.

mod convert;
mod globals;
mod throttle;

pub use throttle::Throttle;

