//! TEMPORARY STUB (helper is writing the real module; overwrite freely).
use super::Millis;
/// Header names.
pub const HEADER_NAMES: &[&str] = &["retry-after"];
/// Signals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signals {
    /// x
    pub retry_after_ms: Option<Millis>,
    /// x
    pub remaining: Option<u64>,
    /// x
    pub reset_ms: Option<Millis>,
    /// x
    pub limit: Option<u64>,
    /// x
    pub window_ms: Option<Millis>,
}
impl Signals {
    /// x
    pub fn server_wait_ms(&self) -> Option<Millis> {
        self.retry_after_ms.or(match (self.remaining, self.reset_ms) { (Some(0), Some(r)) => Some(r), _ => None })
    }
}
/// x
pub fn parse_signals<'a>(get: impl Fn(&str) -> Option<&'a str>, _wall_now_ms: Millis) -> Signals {
    Signals { retry_after_ms: get("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).map(|s| s.saturating_mul(1000)), ..Signals::default() }
}
