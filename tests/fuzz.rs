#![cfg(not(target_arch = "wasm32"))]
//! Property-driven fuzzing of every path that takes untrusted input: the server's rate-limit
//! headers (`parse_retry_after`, `parse_http_date`, `parse_signals`), the caller's options
//! (`options::decode`), the retry decision (`RetryPolicy::decide`) and, fed with all of those,
//! the scheduler itself.
//!
//! Properties (besides "never panics" everywhere):
//! - a valid delay-seconds Retry-After at or under the cap gives a retry no earlier than
//!   `now + delay` (exactly then), and the same for an HTTP-date;
//! - no retry ever waits longer than the configured caps: a server time beyond
//!   `max_retry_after` gives `GiveUp(RetryAfterTooLong)`, never `Retry`;
//! - every options error names its field, and the message contains that field;
//! - a valid options object decodes to exactly what it says, and breaking one field of it gives
//!   an error naming that field;
//! - over-long header values are ignored as if absent;
//! - the scheduler never loses a call, never reports a wake-up in the past, and never leaves
//!   waiting calls with nothing that could wake them.
//!
//! Size: `FUZZ_CASES` (default 120,000) is the total number of generated inputs, split over the
//! properties by weight. `FUZZ_CASES=1000000 cargo test --test fuzz --release` for a long run.
//! Failures are not persisted to files (the runner prints the minimal failing input instead).

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config as RunnerConfig;

use ratewindow::core::backoff::{BackoffPolicy, Jitter, Rng};
use ratewindow::core::options::{decode, ErrorKind, Value, MAX_DURATION_MS, MAX_LIMIT};
use ratewindow::core::retry::{Decision, GiveUpReason, Outcome, RetryPolicy};
use ratewindow::core::scheduler::{Config, Priority, Rejection, Scheduler, Ticket};
use ratewindow::core::signals::{
    parse_http_date, parse_retry_after, parse_signals, Signals, HEADER_NAMES, MAX_VALUE_LEN,
};
use ratewindow::core::window::SlotId;
use ratewindow::core::Millis;

// ---------------------------------------------------------------------------------------------
// Case budget
// ---------------------------------------------------------------------------------------------

/// The total number of inputs for this run (`FUZZ_CASES`, default 120,000).
fn total_cases() -> u64 {
    static TOTAL: OnceLock<u64> = OnceLock::new();
    *TOTAL.get_or_init(|| {
        std::env::var("FUZZ_CASES")
            .ok()
            .and_then(|v| v.replace('_', "").parse().ok())
            .unwrap_or(120_000)
    })
}

/// A runner configuration with `weight` per mille of the total cases.
fn cases(weight: u64) -> RunnerConfig {
    let n = (total_cases() * weight / 1000).max(16);
    RunnerConfig {
        cases: u32::try_from(n).unwrap_or(u32::MAX),
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..RunnerConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Calendar (written independently of the parser: a 400-year cycle, then year and month walks)
// ---------------------------------------------------------------------------------------------

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // from 1970-01-01
const LONG_DAYS: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// 9999-12-31T23:59:59Z, the last instant a four-digit year can name.
const LAST_DATE_S: u64 = 253_402_300_799;

fn leap(y: u64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// (year, month 0-based, day 1-based, hour, minute, second, weekday index into `DAYS`).
fn civil(epoch_s: u64) -> (u64, usize, u64, u64, u64, u64, usize) {
    let days = epoch_s / 86_400;
    let rest = epoch_s % 86_400;
    let mut year = 1970 + 400 * (days / 146_097);
    let mut d = days % 146_097;
    loop {
        let len = if leap(year) { 366 } else { 365 };
        if d < len {
            break;
        }
        d -= len;
        year += 1;
    }
    let mut month = 0;
    loop {
        let len = match month {
            1 if leap(year) => 29,
            1 => 28,
            3 | 5 | 8 | 10 => 30,
            _ => 31,
        };
        if d < len {
            break;
        }
        d -= len;
        month += 1;
    }
    (year, month, d + 1, rest / 3600, rest % 3600 / 60, rest % 60, (days % 7) as usize)
}

/// An HTTP-date for `epoch_s` in one of the three formats, with the leniencies the parser
/// documents (case, runs of whitespace, one-digit day, long or short or no weekday).
fn http_date(epoch_s: u64, style: &DateStyle) -> String {
    let (y, mo, d, h, mi, s, wd) = civil(epoch_s);
    let sp = " ".repeat(style.spaces.max(1));
    let day_name = if style.long_day { LONG_DAYS[wd] } else { DAYS[wd] };
    let day_name = case(day_name, style.upper);
    let month = case(MONTHS[mo], style.upper);
    let gmt = case("GMT", style.upper);
    let day = if style.short_day { format!("{d}") } else { format!("{d:02}") };
    match style.format % 3 {
        0 => {
            let weekday = if style.no_weekday { String::new() } else { format!("{day_name},{sp}") };
            format!("{weekday}{day}{sp}{month}{sp}{y:04}{sp}{h:02}:{mi:02}:{s:02}{sp}{gmt}")
        }
        1 => {
            let year = if style.four_digit_rfc850 || !(1970..=2069).contains(&y) {
                format!("{y:04}")
            } else {
                format!("{:02}", y % 100)
            };
            format!("{day_name},{sp}{day}-{month}-{year}{sp}{h:02}:{mi:02}:{s:02}{sp}{gmt}")
        }
        _ => format!("{day_name}{sp}{month}{sp}{d:>2}{sp}{h:02}:{mi:02}:{s:02}{sp}{y:04}"),
    }
}

fn case(s: &str, upper: Option<bool>) -> String {
    match upper {
        Some(true) => s.to_ascii_uppercase(),
        Some(false) => s.to_ascii_lowercase(),
        None => s.to_string(),
    }
}

#[derive(Debug, Clone)]
struct DateStyle {
    format: u8,
    spaces: usize,
    long_day: bool,
    short_day: bool,
    no_weekday: bool,
    four_digit_rfc850: bool,
    upper: Option<bool>,
}

fn date_style() -> impl Strategy<Value = DateStyle> {
    (0u8..3, 1usize..3, any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(), proptest::option::of(any::<bool>()))
        .prop_map(|(format, spaces, long_day, short_day, no_weekday, four_digit_rfc850, upper)| DateStyle {
            format,
            spaces,
            long_day,
            short_day,
            no_weekday,
            four_digit_rfc850,
            upper,
        })
}

// ---------------------------------------------------------------------------------------------
// Header strategies
// ---------------------------------------------------------------------------------------------

/// Pieces of rate-limit headers, glued at random to reach the parsers' deeper branches.
const TOKENS: &[&str] = &[
    "Sun", "Monday", "sunday", "Nov", "feb", "GMT", "UTC", "0", "1", "06", "1994", "08:49:37",
    "23:59:60", "29", "31", "99", "12345", " ", "  ", "\t", ",", ":", "-", ";", "=", "r=", "t=",
    "q=", "w=", "limit=", "remaining=", "reset=", "\"d\"", "\"", "(", ")", ".", ".5",
    "999999999999999999999", "18446744073709551616", "-1", "1e3", "nan", "inf", "\u{a0}", "é",
    "\u{0}", "1700000000", "1700000000000",
];

/// Strings shaped like header values, to reach every branch of the parsers.
fn header_like() -> impl Strategy<Value = String> {
    let chars: Vec<char> = " \t,;=:\"()\\.+-0123456789azAZ\u{a0}\u{0}\u{7f}é€😀".chars().collect();
    prop_oneof![
        2 => any::<String>(),
        2 => proptest::collection::vec(select(chars), 0..48).prop_map(|c| c.into_iter().collect::<String>()),
        3 => proptest::collection::vec(select(TOKENS), 0..20).prop_map(|t| t.concat()),
        2 => (0usize..3, proptest::collection::vec(0u8..10, 1..26), 0usize..3)
            .prop_map(|(a, d, b)| format!("{}{}{}", " ".repeat(a), d.iter().map(|x| char::from(b'0' + x)).collect::<String>(), "\t".repeat(b))),
        1 => (0u64..=LAST_DATE_S + 10_000_000, date_style()).prop_map(|(s, st)| http_date(s, &st)),
        1 => (0u64..=LAST_DATE_S, date_style(), any::<usize>(), any::<char>())
            .prop_map(|(s, st, at, c)| mutate(&http_date(s, &st), at, c)),
    ]
}

/// Replaces, deletes or inserts one char at a position (by `at`'s low bits).
fn mutate(s: &str, at: usize, c: char) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return c.to_string();
    }
    let i = (at >> 2) % chars.len();
    let mut out: Vec<char> = chars.clone();
    match at % 3 {
        0 => out[i] = c,
        1 => {
            out.remove(i);
        }
        _ => out.insert(i, c),
    }
    out.into_iter().collect()
}

fn is_delay_seconds(value: &str) -> bool {
    let t = value.trim_matches(|c: char| c.is_ascii_whitespace());
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
}

fn saturating_digits(t: &str) -> u64 {
    t.bytes().fold(0u64, |acc, b| acc.saturating_mul(10).saturating_add(u64::from(b - b'0')))
}

/// Runs `parse_signals` over a list of `(name, value)` pairs (first match wins).
fn signals_of(headers: &[(&str, String)], now: Millis) -> Signals {
    parse_signals(|name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()), now)
}

// ---------------------------------------------------------------------------------------------
// Header properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(200))]

    /// Retry-After: delay-seconds read exactly (saturating), dates as `date - now`, garbage as
    /// `None`; never a panic.
    #[test]
    fn retry_after(value in header_like(), now in prop_oneof![any::<u64>(), 0u64..=LAST_DATE_S * 1000]) {
        let got = parse_retry_after(&value, now);
        if value.len() > MAX_VALUE_LEN {
            prop_assert_eq!(got, None);
        } else if is_delay_seconds(&value) {
            let t = value.trim_matches(|c: char| c.is_ascii_whitespace());
            prop_assert_eq!(got, Some(saturating_digits(t).saturating_mul(1000)));
        } else {
            let date = parse_http_date(value.trim_matches(|c: char| c.is_ascii_whitespace()));
            prop_assert_eq!(got, date.map(|at| at.saturating_sub(now)), "{:?}", value);
        }
    }
}

proptest! {
    #![proptest_config(cases(100))]

    /// Every date we format parses back exactly, in every format and leniency.
    #[test]
    fn http_date_round_trips(seconds in 0u64..=LAST_DATE_S, style in date_style()) {
        let text = http_date(seconds, &style);
        prop_assert_eq!(parse_http_date(&text), Some(seconds * 1000), "{}", text);
    }

    /// Anything the date parser accepts (mutated dates, garbage) is a whole second within four-
    /// digit years, and its canonical form reads back the same.
    #[test]
    fn http_date_accepts_only_canonical_instants(value in header_like()) {
        if let Some(at) = parse_http_date(&value) {
            prop_assert_eq!(at % 1000, 0);
            prop_assert!(at / 1000 <= LAST_DATE_S, "{:?} → {}", value, at);
            let canonical = http_date(at / 1000, &DateStyle {
                format: 0, spaces: 1, long_day: false, short_day: false, no_weekday: false,
                four_digit_rfc850: true, upper: None,
            });
            prop_assert_eq!(parse_http_date(&canonical), Some(at));
        }
    }
}

/// Any subset of the signal headers with values from [`header_like`].
fn header_set() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    proptest::collection::vec((select(HEADER_NAMES), header_like()), 0..6)
}

proptest! {
    #![proptest_config(cases(100))]

    /// `parse_signals` never panics; its Retry-After agrees with `parse_retry_after`; an
    /// over-long value counts as absent; `server_wait_ms` follows its documented rule.
    #[test]
    fn signals(headers in header_set(), now in any::<u64>(), pad in 0usize..6) {
        let got = signals_of(&headers, now);
        let ra = headers.iter().find(|(n, _)| *n == "retry-after").map(|(_, v)| v.as_str());
        prop_assert_eq!(got.retry_after_ms, ra.and_then(|v| parse_retry_after(v, now)));
        match got.retry_after_ms {
            Some(w) => prop_assert_eq!(got.server_wait_ms(), Some(w)),
            None if got.remaining == Some(0) => prop_assert_eq!(got.server_wait_ms(), got.reset_ms),
            None => prop_assert_eq!(got.server_wait_ms(), None),
        }
        // Pad one header beyond the cap: the result is that of the headers without it.
        if let Some((name, _)) = headers.get(pad) {
            let name = *name;
            let mut padded = headers.clone();
            for (n, v) in padded.iter_mut() {
                if *n == name {
                    v.push_str(&" ".repeat(MAX_VALUE_LEN + 1));
                }
            }
            let without: Vec<_> = headers.iter().filter(|(n, _)| *n != name).cloned().collect();
            prop_assert_eq!(signals_of(&padded, now), signals_of(&without, now));
        }
    }

    /// Duplicated `X-RateLimit-Remaining`/`-Reset` (joined by a proxy) read most restrictively.
    #[test]
    fn joined_duplicates_read_most_restrictively(a in 0u64..1_000_000_000, b in 0u64..1_000_000_000, now in any::<u64>()) {
        let got = signals_of(&[
            ("x-ratelimit-remaining", format!("{a}, {b}")),
            ("x-ratelimit-reset", format!("{}, {}", a % 100_000, b % 100_000)),
        ], now);
        prop_assert_eq!(got.remaining, Some(a.min(b)));
        prop_assert_eq!(got.reset_ms, Some((a % 100_000).max(b % 100_000) * 1000));
    }
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

// The decoder's own lists of known names: the fuzz draws keys from them and from garbage.
use ratewindow::core::options::{BREAKER as BREAKER_KEYS, BUDGET as BUDGET_KEYS, RETRY as RETRY_KEYS, TOP, WINDOW as WINDOW_KEYS};
const GARBAGE_KEYS: &[&str] = &[
    "", "key", "LIMIT", "windowMS", "retries", "__proto__", "constructor", "toString", "limit ",
    "0", "1", "cache", "dedupe", "signal", "é", "a.b", "[0]", "retry.limit",
];

/// Numbers at and around every boundary the options have, and the IEEE specials.
const SPECIAL_NUMBERS: &[f64] = &[
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    1.5,
    2.0,
    3.0,
    99.0,
    100.0,
    101.0,
    429.0,
    599.0,
    600.0,
    1e300,
    -1e300,
    f64::MAX,
    f64::MIN,
    f64::MIN_POSITIVE,
    f64::EPSILON,
    1_000.0,
    100_000.0,
    100_001.0,
    1_000_000.0,
    1_000_001.0,
    2_147_483_646.5,
    2_147_483_647.0,
    2_147_483_648.0,
    4_294_967_295.0,
    4_294_967_296.0,
    9_007_199_254_740_993.0,
    1.000_000_1,
    99.999_999,
];
const SHORT_STRINGS: &[&str] =
    &["full", "equal", "decorrelated", "none", "Full", "", "GET", "post", "x", "200", "NaN", " full"];

/// A fast, seed-driven generator of JS-like option trees (proptest supplies the seed; building
/// trees with proptest's recursive strategies costs ~1 ms each in a debug build).
struct Gen(Rng);

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, in_n: usize) -> bool {
        self.below(in_n) == 0
    }
    fn number(&mut self) -> f64 {
        match self.below(9) {
            0..=2 => *self.pick(SPECIAL_NUMBERS),
            3..=5 => self.below(200) as f64,
            6 | 7 => -1_000.0 + (self.0.next_u64() % 10_001_000) as f64 * if self.chance(2) { 1.0 } else { 0.37 },
            _ => f64::from_bits(self.0.next_u64()),
        }
    }
    fn string(&mut self) -> String {
        if self.chance(2) {
            return self.pick(SHORT_STRINGS).to_string();
        }
        let n = self.below(40);
        (0..n).map(|_| *self.pick(&['a', 'Z', '0', '9', ' ', '-', '\u{e9}'])).collect()
    }
    fn key(&mut self) -> String {
        match self.below(6) {
            0 => self.pick(TOP).to_string(),
            1 => self.pick(RETRY_KEYS).to_string(),
            2 => self.pick(BREAKER_KEYS).to_string(),
            3 => self.pick(BUDGET_KEYS).to_string(),
            4 => self.pick(GARBAGE_KEYS).to_string(),
            _ => {
                let n = self.below(12);
                (0..n).map(|_| *self.pick(&['a', 'Z', '_', '.', '[', ']', '0', '9'])).collect()
            }
        }
    }
    /// Any value a JS caller could hand in, as the bindings reduce it.
    fn any(&mut self, depth: u32) -> Value {
        let leaf_only = depth >= 4;
        match self.below(if leaf_only { 6 } else { 8 }) {
            0 => Value::Undefined,
            1 => Value::Null,
            2 => Value::Bool(self.chance(2)),
            3 => Value::Number(self.number()),
            4 => Value::String(self.string()),
            5 => Value::Other(self.pick(&["function", "symbol", "bigint", "object"]).to_string()),
            6 => {
                let n = self.below(6);
                Value::Array((0..n).map(|_| self.any(depth + 1)).collect())
            }
            _ => {
                let n = self.below(6);
                Value::Object((0..n).map(|_| (self.key(), self.any(depth + 1))).collect())
            }
        }
    }
    fn num_or_any(&mut self) -> Value {
        if self.chance(5) {
            self.any(2)
        } else {
            Value::Number(self.number())
        }
    }
    /// An object of mostly `keys`, with values from `value`.
    fn object(&mut self, keys: &[&str], value: fn(&mut Gen) -> Value) -> Value {
        let n = self.below(5);
        Value::Object(
            (0..n)
                .map(|_| {
                    let k = if self.chance(7) { self.key() } else { self.pick(keys).to_string() };
                    (k, value(self))
                })
                .collect(),
        )
    }
    fn retry_field(&mut self) -> Value {
        match self.below(7) {
            0..=2 => Value::Number(self.number()),
            3 => Value::String(self.string()),
            4 => {
                let n = self.below(8);
                Value::Array((0..n).map(|_| Value::Number(self.number())).collect())
            }
            5 => {
                let n = self.below(8);
                Value::Array((0..n).map(|_| Value::String(self.string())).collect())
            }
            _ => self.any(2),
        }
    }
    /// A value shaped for option `name` most of the time, anything at all otherwise.
    fn value_for(&mut self, name: &str) -> Value {
        if self.chance(5) {
            return self.any(1);
        }
        match name {
            "windows" => {
                let n = self.below(18);
                Value::Array((0..n).map(|_| self.object(WINDOW_KEYS, Gen::num_or_any)).collect())
            }
            "retry" => match self.below(4) {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                2 => Value::Number(self.number()),
                _ => self.object(RETRY_KEYS, Gen::retry_field),
            },
            "breaker" | "retryBudget" => match self.below(3) {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                _ => self.object(if name == "breaker" { BREAKER_KEYS } else { BUDGET_KEYS }, Gen::num_or_any),
            },
            "learnShare" => Value::Bool(self.chance(2)),
            _ => Value::Number(self.number()),
        }
    }
    /// Top-level options: mostly objects of (mostly) real option names with (mostly) plausible
    /// values, sometimes any value at all.
    fn options(&mut self) -> Value {
        if self.chance(9) {
            return self.any(0);
        }
        let n = self.below(8);
        Value::Object(
            (0..n)
                .map(|_| {
                    if self.chance(9) {
                        (self.key(), self.any(1))
                    } else {
                        let k = *self.pick(TOP);
                        (k.to_string(), self.value_for(k))
                    }
                })
                .collect(),
        )
    }
}

/// Follows a dotted/indexed path (`retry.statusCodes[3]`, `windows[0].limit`) into a value.
fn resolve<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut at = root;
    for part in path.split('.') {
        let (name, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            at = match at {
                Value::Object(fields) => &fields.iter().find(|(k, _)| k == name)?.1,
                _ => return None,
            };
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let i: usize = index.strip_suffix(']')?.parse().ok()?;
            at = match at {
                Value::Array(items) => items.get(i)?,
                _ => return None,
            };
        }
    }
    Some(at)
}

/// Whether some object key anywhere in `v` is a suffix of `path` (after a `.` or at its start).
fn has_key_suffix(v: &Value, path: &str) -> bool {
    match v {
        Value::Object(fields) => fields.iter().any(|(k, inner)| {
            path == k || path.ends_with(&format!(".{k}")) || has_key_suffix(inner, path)
        }),
        Value::Array(items) => items.iter().any(|i| has_key_suffix(i, path)),
        _ => false,
    }
}

fn check_config(c: &Config) -> Result<(), TestCaseError> {
    prop_assert!(!c.windows.is_empty() && c.windows.len() <= 17);
    for &(l, w) in &c.windows {
        prop_assert!((1..=MAX_LIMIT).contains(&l), "limit {l}");
        prop_assert!((1..=MAX_DURATION_MS).contains(&w), "window {w}");
    }
    prop_assert!(c.margin <= MAX_DURATION_MS);
    prop_assert!(c.retry.limit <= 100);
    prop_assert!(c.retry.max_retry_after <= MAX_DURATION_MS);
    let b = &c.retry.backoff;
    prop_assert!(b.base <= b.max && b.max <= MAX_DURATION_MS, "{b:?}");
    prop_assert!(b.factor.is_finite() && (1.0..=100.0).contains(&b.factor));
    prop_assert!(c.retry.status_codes.iter().all(|s| (100..=599).contains(s)));
    prop_assert!(c.retry.methods.iter().all(|m| !m.is_empty() && m.len() <= 32 && *m == m.to_ascii_uppercase()));
    prop_assert!(c.breaker_threshold <= 1_000);
    prop_assert!(c.breaker_cooldown <= MAX_DURATION_MS);
    prop_assert!(c.budget_tokens == 0.0 || (2.0..=100_000.0).contains(&c.budget_tokens));
    prop_assert!((0.0..=1.0).contains(&c.budget_ratio));
    prop_assert!(c.max_concurrent <= MAX_LIMIT);
    for d in [c.max_wait, c.min_interval, c.aging] {
        prop_assert!(d <= MAX_DURATION_MS);
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(150))]

    /// `decode` on anything: never panics; an error names a field that is in its message and
    /// (but for the one cross-field check) in the input; a success is within every range.
    #[test]
    fn decode_anything(seed in any::<u64>()) {
        let input = Gen(Rng::new(seed)).options();
        match decode(&input) {
            Ok((config, seed)) => {
                check_config(&config)?;
                if let Value::Object(fields) = &input {
                    for (k, _) in fields {
                        prop_assert!(TOP.contains(&k.as_str()), "unknown option {:?} accepted", k);
                    }
                }
                if let Some(Value::Number(s)) = resolve(&input, "seed") {
                    prop_assert_eq!(seed, Some(*s as u64));
                }
                // Deterministic.
                prop_assert_eq!(decode(&input).ok(), Some((config, seed)));
            }
            Err(e) => {
                prop_assert!(!e.field.is_empty(), "{}", e.message);
                prop_assert!(e.message.starts_with("ratewindow: "), "{}", e.message);
                prop_assert!(e.message.contains(&format!("`{}`", e.field)), "{} does not name {}", e.message, e.field);
                let head = e.field.split(['.', '[']).next().unwrap_or_default();
                let top_known = TOP.contains(&head) || e.field == "options";
                let unknown = e.message.contains("unknown option");
                prop_assert!(top_known || unknown, "{}", e.message);
                if unknown {
                    prop_assert_eq!(e.kind, ErrorKind::Type);
                }
                // An unknown key may itself hold `.` or `[`, so look for it as written.
                let present = e.field == "options"
                    || resolve(&input, &e.field).is_some()
                    || (unknown && has_key_suffix(&input, &e.field));
                // `retry.maxMs` is the one error that may name a field the caller left out:
                // `baseMs` above the default `maxMs` (60000).
                prop_assert!(present || e.field == "retry.maxMs", "{} names a field not in {:?}", e.message, input);
            }
        }
    }
}

/// The generator has teeth: over a few thousand seeds it reaches successes and an error for
/// every top-level option and for the nested ones.
#[test]
fn decode_generator_reaches_every_field() {
    let mut fields = std::collections::BTreeSet::new();
    let mut ok = 0;
    for seed in 0..5_000 {
        match decode(&Gen(Rng::new(seed)).options()) {
            Ok(_) => ok += 1,
            Err(e) => {
                let head: String = e.field.split('[').next().unwrap_or_default().to_string();
                fields.insert(head);
            }
        }
    }
    for want in TOP.iter().map(|s| s.to_string()).chain(
        ["retry.limit", "retry.maxRetryAfterMs", "retry.baseMs", "retry.maxMs", "retry.factor", "retry.jitter",
         "retry.statusCodes", "retry.methods", "breaker.threshold", "breaker.cooldownMs", "retryBudget.tokens",
         "retryBudget.ratio", "options"].iter().map(|s| s.to_string()),
    ) {
        assert!(fields.contains(&want), "no error for {want}; got {fields:?}");
    }
    assert!(ok > 100, "only {ok} valid options");
}

/// A valid options object together with what it must decode to.
#[derive(Debug, Clone)]
struct ValidOptions {
    fields: Vec<(String, Value)>,
    expect: Config,
    seed: Option<u64>,
}

fn pick_duration(min: u64) -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(min as f64),
        Just(MAX_DURATION_MS as f64),
        (min..=MAX_DURATION_MS).prop_map(|v| v as f64),
        (min..=100_000u64).prop_map(|v| v as f64),
    ]
}

fn valid_options() -> impl Strategy<Value = ValidOptions> {
    (
        proptest::option::of(prop_oneof![Just(1u32), Just(MAX_LIMIT), 1u32..=MAX_LIMIT]),
        proptest::option::of(pick_duration(1)),
        proptest::collection::vec((1u32..=MAX_LIMIT, 1u64..=MAX_DURATION_MS), 0..3),
        proptest::option::of(pick_duration(0)),
        proptest::option::of(0u32..=MAX_LIMIT),
        proptest::option::of((0u32..=100, pick_duration(0), 0u64..=10_000, 0u64..=50_000, 1.0f64..=100.0, 0usize..4)),
        proptest::option::of((1u32..=1000, pick_duration(0))),
        proptest::option::of((2u32..=100_000, 0.0f64..=1.0)),
        (proptest::option::of(0u64..(1 << 53)), proptest::option::of(0u32..=u32::MAX), proptest::option::of(any::<bool>())),
        (proptest::option::of(pick_duration(0)), proptest::option::of(pick_duration(0)), proptest::option::of(pick_duration(0))),
    )
        .prop_map(|(limit, window, windows, margin, conc, retry, breaker, budget, (seed, max_queue, learn), (max_wait, min_interval, aging))| {
            let mut fields: Vec<(String, Value)> = Vec::new();
            let mut expect = Config::default();
            let n = |v: f64| Value::Number(v);
            let l = limit.unwrap_or(200);
            let w = window.map_or(60_000, |w| w.ceil() as u64);
            if let Some(v) = limit { fields.push(("limit".into(), n(f64::from(v)))); }
            if let Some(v) = window { fields.push(("windowMs".into(), n(v))); }
            expect.windows = vec![(l, w)];
            if !windows.is_empty() || limit.is_some() {
                fields.push(("windows".into(), Value::Array(windows.iter().map(|&(wl, ww)| {
                    Value::Object(vec![("limit".into(), n(f64::from(wl))), ("windowMs".into(), n(ww as f64))])
                }).collect())));
                expect.windows.extend(windows.iter().copied());
            }
            let longest = expect.windows.iter().map(|&(_, w)| w).max().unwrap_or(w);
            if let Some(v) = margin { fields.push(("safetyMarginMs".into(), n(v))); expect.margin = v.ceil() as u64; }
            if let Some(v) = conc { fields.push(("maxConcurrent".into(), n(f64::from(v)))); expect.max_concurrent = v; }
            if let Some((rl, mra, base, extra, factor, jitter)) = retry {
                let jitter_name = ["full", "equal", "decorrelated", "none"][jitter];
                fields.push(("retry".into(), Value::Object(vec![
                    ("limit".into(), n(f64::from(rl))),
                    ("maxRetryAfterMs".into(), n(mra)),
                    ("baseMs".into(), n(base as f64)),
                    ("maxMs".into(), n((base + extra) as f64)),
                    ("factor".into(), n(factor)),
                    ("jitter".into(), Value::String(jitter_name.into())),
                    ("statusCodes".into(), Value::Array(vec![n(429.0), n(503.0)])),
                    ("methods".into(), Value::Array(vec![Value::String("get".into()), Value::String("Patch".into())])),
                ])));
                expect.retry = RetryPolicy {
                    limit: rl,
                    max_retry_after: mra.ceil() as u64,
                    status_codes: vec![429, 503],
                    methods: vec!["GET".into(), "PATCH".into()],
                    backoff: BackoffPolicy {
                        base,
                        factor,
                        max: base + extra,
                        jitter: Jitter::parse(jitter_name).unwrap_or_default(),
                    },
                };
            }
            expect.breaker_cooldown = longest;
            if let Some((t, c)) = breaker {
                fields.push(("breaker".into(), Value::Object(vec![("threshold".into(), n(f64::from(t))), ("cooldownMs".into(), n(c))])));
                expect.breaker_threshold = t;
                expect.breaker_cooldown = c.ceil() as u64;
            }
            if let Some((t, r)) = budget {
                fields.push(("retryBudget".into(), Value::Object(vec![("tokens".into(), n(f64::from(t))), ("ratio".into(), n(r))])));
                expect.budget_tokens = f64::from(t);
                expect.budget_ratio = r;
            }
            if let Some(s) = seed { fields.push(("seed".into(), n(s as f64))); }
            if let Some(q) = max_queue { fields.push(("maxQueue".into(), n(f64::from(q)))); expect.max_queue = q; }
            if let Some(b) = learn { fields.push(("learnShare".into(), Value::Bool(b))); expect.learn_share = b; }
            if let Some(v) = max_wait { fields.push(("maxWaitMs".into(), n(v))); expect.max_wait = v.ceil() as u64; }
            if let Some(v) = min_interval { fields.push(("minIntervalMs".into(), n(v))); expect.min_interval = v.ceil() as u64; }
            expect.aging = longest;
            if let Some(v) = aging { fields.push(("priorityAgingMs".into(), n(v))); expect.aging = v.ceil() as u64; }
            ValidOptions { fields, expect, seed }
        })
}

/// Invalid values for a field, with the error class each must give.
fn invalid_for(path: &str) -> Vec<(Value, ErrorKind)> {
    use ErrorKind::{Range, Type};
    let n = Value::Number;
    let mut out = vec![
        (Value::String("1".into()), Type),
        (Value::Null, Type),
        (Value::Other("function".into()), Type),
        (Value::Array(vec![]), Type),
    ];
    let ranges: Vec<f64> = match path {
        "limit" | "windows[0].limit" => vec![0.0, -1.0, 1.5, f64::NAN, f64::INFINITY, 1_000_001.0],
        "windowMs" | "windows[0].windowMs" => vec![0.0, 0.5, -1.0, f64::NAN, f64::INFINITY, 2_147_483_648.0],
        "safetyMarginMs" | "maxWaitMs" | "minIntervalMs" | "priorityAgingMs" | "retry.maxRetryAfterMs"
        | "breaker.cooldownMs" => vec![-1.0, f64::NAN, f64::NEG_INFINITY, 1e300],
        "maxConcurrent" => vec![-1.0, 0.5, 1_000_001.0, f64::NAN],
        "maxQueue" => vec![-1.0, 0.5, 4_294_967_296.0, f64::INFINITY],
        "retry.limit" => vec![-1.0, 101.0, 2.5, f64::NAN],
        "retry.factor" => vec![0.999, 100.5, f64::NAN, f64::INFINITY, -2.0],
        "breaker.threshold" => vec![0.0, 1001.0, 1.5],
        "retryBudget.tokens" => vec![1.0, 100_001.0, 2.5],
        "retryBudget.ratio" => vec![-0.1, 1.1, f64::NAN],
        "seed" => vec![-1.0, 0.5, f64::NAN, f64::INFINITY],
        "learnShare" => vec![],
        _ => vec![],
    };
    if path == "learnShare" {
        out.push((n(1.0), Type));
    }
    out.extend(ranges.into_iter().map(|v| (n(v), Range)));
    out
}

/// Replaces the value at `path` (creating the last key if missing) in an options object.
fn set_path(root: &mut Value, path: &str, new: Value) {
    let (parent, key) = match path.rsplit_once('.') {
        Some((p, k)) => (Some(p), k),
        None => (None, path),
    };
    let target = match parent {
        None => Some(root),
        Some(p) => resolve_mut(root, p),
    };
    if let Some(Value::Object(fields)) = target {
        match fields.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = new,
            None => fields.push((key.to_string(), new)),
        }
    }
}

fn resolve_mut<'a>(root: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    let mut at = root;
    for part in path.split('.') {
        let (name, index) = match part.find('[') {
            Some(i) => (&part[..i], part[i + 1..].strip_suffix(']').and_then(|s| s.parse::<usize>().ok())),
            None => (part, None),
        };
        at = match at {
            Value::Object(fields) => &mut fields.iter_mut().find(|(k, _)| k == name)?.1,
            _ => return None,
        };
        if let Some(i) = index {
            at = match at {
                Value::Array(items) => items.get_mut(i)?,
                _ => return None,
            };
        }
    }
    Some(at)
}

const BREAKABLE: &[&str] = &[
    "limit",
    "windowMs",
    "windows[0].limit",
    "windows[0].windowMs",
    "safetyMarginMs",
    "maxConcurrent",
    "retry.limit",
    "retry.maxRetryAfterMs",
    "retry.factor",
    "breaker.threshold",
    "breaker.cooldownMs",
    "retryBudget.tokens",
    "retryBudget.ratio",
    "seed",
    "maxQueue",
    "maxWaitMs",
    "minIntervalMs",
    "priorityAgingMs",
    "learnShare",
];

proptest! {
    #![proptest_config(cases(100))]

    /// A valid object decodes to exactly what it says; breaking one field of it gives an error
    /// naming exactly that field, of the right class.
    #[test]
    fn decode_valid_and_one_broken_field(v in valid_options(), which in 0usize..BREAKABLE.len(), bad in any::<prop::sample::Index>()) {
        let input = Value::Object(v.fields.clone());
        let decoded = decode(&input);
        prop_assert!(decoded.is_ok(), "{:?} rejected: {:?}", input, decoded);
        let (config, seed) = decoded.unwrap_or_else(|_| unreachable!());
        prop_assert_eq!(&config, &v.expect);
        prop_assert_eq!(seed, v.seed);

        let path = BREAKABLE[which];
        let mut broken = input.clone();
        // Make sure the containers exist, then break the one field.
        for container in ["retry", "breaker", "retryBudget"] {
            if path.starts_with(&format!("{container}.")) && resolve(&broken, container).is_none_or(|c| !matches!(c, Value::Object(_))) {
                set_path(&mut broken, container, Value::Object(vec![]));
            }
        }
        if path.starts_with("windows[0]") {
            set_path(&mut broken, "windows", Value::Array(vec![Value::Object(vec![
                ("limit".into(), Value::Number(5.0)), ("windowMs".into(), Value::Number(1000.0)),
            ])]));
        }
        let choices = invalid_for(path);
        let (bad_value, kind) = choices[bad.index(choices.len())].clone();
        set_path(&mut broken, path, bad_value.clone());
        match decode(&broken) {
            Ok(_) => prop_assert!(false, "{} = {:?} accepted", path, bad_value),
            Err(e) => {
                prop_assert_eq!(&e.field, path, "{}", e.message);
                prop_assert_eq!(e.kind, kind, "{}", e.message);
                prop_assert!(e.message.contains(path));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The retry decision
// ---------------------------------------------------------------------------------------------

fn policy() -> impl Strategy<Value = RetryPolicy> {
    (
        prop_oneof![0u32..=6, 0u32..=100, Just(u32::MAX)],
        prop_oneof![Just(0u64), 0u64..=200_000, 0u64..=MAX_DURATION_MS, Just(u64::MAX)],
        proptest::collection::vec(prop_oneof![select(vec![408u16, 429, 500, 502, 503, 504]), 100u16..600], 0..8),
        proptest::collection::vec(select(vec!["GET", "HEAD", "PUT", "DELETE", "POST", "PATCH", "CALL", "get"]), 0..6),
        (0u64..=100_000, 0u64..=MAX_DURATION_MS, 1.0f64..=100.0, select(vec![Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated])),
    )
        .prop_map(|(limit, max_retry_after, status_codes, methods, (base, extra, factor, jitter))| RetryPolicy {
            limit,
            max_retry_after,
            status_codes,
            methods: methods.into_iter().map(|m| m.to_ascii_uppercase()).collect(),
            backoff: BackoffPolicy { base: base.min(extra), factor, max: extra, jitter },
        })
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        4 => select(vec![200u16, 204, 404, 408, 429, 500, 502, 503, 504]).prop_map(Outcome::Status),
        1 => any::<u16>().prop_map(Outcome::Status),
        1 => Just(Outcome::NetworkError),
        1 => Just(Outcome::Aborted),
    ]
}

fn opt_ms() -> impl Strategy<Value = Option<u64>> {
    proptest::option::of(prop_oneof![0u64..=300_000, Just(u64::MAX), any::<u64>(), 0u64..=MAX_DURATION_MS * 2])
}

fn raw_signals() -> impl Strategy<Value = Signals> {
    (opt_ms(), proptest::option::of(prop_oneof![Just(0u64), any::<u64>()]), opt_ms(), proptest::option::of(any::<u64>()), opt_ms())
        .prop_map(|(retry_after_ms, remaining, reset_ms, limit, window_ms)| Signals {
            retry_after_ms,
            remaining,
            reset_ms,
            limit,
            window_ms,
        })
}

/// The server wait `decide` must honour for this outcome, if any.
fn server_wait(p: &RetryPolicy, outcome: Outcome, s: &Signals) -> Option<Millis> {
    match outcome {
        Outcome::Status(429) if p.status_codes.contains(&429) => s.server_wait_ms(),
        Outcome::Status(code) if p.status_codes.contains(&code) => s.retry_after_ms,
        _ => None,
    }
}

fn check_decision(
    p: &RetryPolicy,
    outcome: Outcome,
    s: &Signals,
    attempt: u32,
    now: Millis,
    method: &str,
    seed: u64,
) -> Result<Decision, TestCaseError> {
    let mut backoff = p.backoff.delays(Rng::new(seed));
    let mut drawn = None;
    let d = p.decide(outcome, s, attempt, now, method, || {
        let v = backoff.next().unwrap_or(0);
        drawn = Some(v);
        v
    });
    let idempotent = p.methods.iter().any(|m| m.eq_ignore_ascii_case(method));
    let wait = server_wait(p, outcome, s);
    let cap = p.max_retry_after.max(p.backoff.max);
    match d {
        Decision::Retry { at, server_given } => {
            prop_assert!(attempt <= p.limit, "retry after attempt {attempt} of {}", p.limit);
            prop_assert!(outcome != Outcome::Aborted);
            prop_assert!(at >= now);
            prop_assert!(at - now <= cap, "waits {} beyond every cap ({})", at - now, cap);
            if server_given {
                let w = wait.ok_or_else(|| TestCaseError::fail("server_given without a server time"))?;
                prop_assert!(w <= p.max_retry_after, "honoured {w} over the cap {}", p.max_retry_after);
                prop_assert_eq!(at, now.saturating_add(w), "not exactly the server's time");
                prop_assert!(drawn.is_none(), "a server time drew a backoff");
            } else {
                prop_assert_eq!(wait, None, "the server's time was replaced by a backoff");
                let b = drawn.ok_or_else(|| TestCaseError::fail("no backoff drawn"))?;
                prop_assert!(b <= p.backoff.max);
                prop_assert_eq!(at, now.saturating_add(b));
            }
            if let Outcome::Status(code) = outcome {
                prop_assert!(p.status_codes.contains(&code));
                prop_assert!(code == 429 || idempotent);
            } else {
                prop_assert!(idempotent);
            }
        }
        Decision::GiveUp { reason } => match reason {
            GiveUpReason::Aborted => prop_assert_eq!(outcome, Outcome::Aborted),
            GiveUpReason::RetryAfterTooLong { at } => {
                let w = wait.ok_or_else(|| TestCaseError::fail("too long without a server time"))?;
                prop_assert!(w > p.max_retry_after);
                prop_assert_eq!(at, now.saturating_add(w));
            }
            GiveUpReason::AttemptsExhausted => {
                prop_assert!(attempt > p.limit);
                prop_assert!(wait.is_none_or(|w| w <= p.max_retry_after), "a too-long wait must say so");
            }
            GiveUpReason::NotIdempotent => prop_assert!(!idempotent),
            GiveUpReason::Final => {
                prop_assert!(matches!(outcome, Outcome::Status(c) if !p.status_codes.contains(&c)))
            }
            GiveUpReason::BudgetExhausted => prop_assert!(false, "decide() knows no budget"),
        },
    }
    // The one rule that matters most: a server time beyond the cap is never a Retry.
    if let Some(w) = wait {
        if w > p.max_retry_after && (outcome == Outcome::Status(429) || idempotent) {
            prop_assert_eq!(d, Decision::GiveUp { reason: GiveUpReason::RetryAfterTooLong { at: now.saturating_add(w) } });
        }
    }
    Ok(d)
}

proptest! {
    #![proptest_config(cases(70))]

    /// `decide` on random policies, outcomes and signals.
    #[test]
    fn decide_anything(
        p in policy(),
        outcome in outcome(),
        s in raw_signals(),
        attempt in prop_oneof![0u32..=10, 0u32..=200, any::<u32>()],
        now in prop_oneof![0u64..=1u64 << 40, any::<u64>()],
        method in select(vec!["GET", "get", "POST", "PATCH", "CALL", "DELETE", ""]),
        seed in any::<u64>(),
    ) {
        check_decision(&p, outcome, &s, attempt, now, method, seed)?;
    }

    /// A real `Retry-After` header (delay-seconds with optional whitespace, or an HTTP-date)
    /// through `parse_signals` into `decide`: a 429 retries exactly at `now + delay` when the
    /// delay is within the cap, and gives up (RetryAfterTooLong) beyond it, never earlier.
    #[test]
    fn retry_after_header_to_decision(
        p in policy(),
        delay_s in prop_oneof![0u64..=300, 0u64..=3_000_000, any::<u64>()],
        as_date in any::<bool>(),
        wall_ms in 1_000_000_000_000u64..4_000_000_000_000,
        ows in select(vec!["", " ", "\t", "  "]),
        attempt in 1u32..=7,
        now in 0u64..=1u64 << 40,
        status in select(vec![429u16, 503]),
    ) {
        let (header, min_delay) = if as_date {
            let at_s = (wall_ms / 1000).saturating_add(delay_s.min(LAST_DATE_S - wall_ms / 1000));
            let text = http_date(at_s, &DateStyle { format: 0, spaces: 1, long_day: false, short_day: false, no_weekday: false, four_digit_rfc850: true, upper: None });
            (text, (at_s * 1000).saturating_sub(wall_ms))
        } else {
            (format!("{ows}{delay_s}{ows}"), delay_s.saturating_mul(1000))
        };
        let s = signals_of(&[("retry-after", header.clone())], wall_ms);
        prop_assert_eq!(s.retry_after_ms, Some(min_delay), "{:?}", header);
        let d = check_decision(&p, Outcome::Status(status), &s, attempt, now, "GET", 1)?;
        let retryable = p.status_codes.contains(&status) && (status == 429 || p.methods.iter().any(|m| m == "GET"));
        if retryable && min_delay <= p.max_retry_after && attempt <= p.limit {
            prop_assert_eq!(d, Decision::Retry { at: now.saturating_add(min_delay), server_given: true });
        }
        if let Decision::Retry { at, .. } = d {
            prop_assert!(at >= now.saturating_add(min_delay), "retried {} ms early", now.saturating_add(min_delay) - at);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The scheduler, driven by everything above
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Enqueue(Priority),
    Complete { pick: usize, outcome: Outcome, signals: Signals },
    Cancel(usize),
    Revoke(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => select(vec![Priority::High, Priority::Auto, Priority::Low]).prop_map(Op::Enqueue),
        4 => (any::<usize>(), outcome(), prop_oneof![2 => Just(Signals::default()), 1 => raw_signals(), 2 => header_set().prop_map(|h| signals_of(&h, 1_700_000_000_000))])
            .prop_map(|(pick, outcome, signals)| Op::Complete { pick, outcome, signals }),
        1 => any::<usize>().prop_map(Op::Cancel),
        1 => any::<usize>().prop_map(Op::Revoke),
        3 => prop_oneof![0u64..=50, 0u64..=5_000, 0u64..=300_000].prop_map(Op::Advance),
    ]
}

fn small_config() -> impl Strategy<Value = Config> {
    (
        proptest::collection::vec((1u32..=8, 1u64..=5_000), 1..3),
        0u64..=5,
        (0u32..=4, 0u64..=200_000, 0u64..=2_000, 0u64..=20_000),
        (0u32..=4, 0u64..=10_000),
        (0u32..=6, 0u64..=10_000, 0u64..=1_000, 0u64..=10_000, any::<bool>(), any::<bool>()),
    )
        .prop_map(|(windows, margin, (rl, mra, base, extra), (bt, bc), (mc, mw, mi, aging, learn, budget))| Config {
            windows,
            margin,
            retry: RetryPolicy {
                limit: rl,
                max_retry_after: mra,
                backoff: BackoffPolicy { base, factor: 2.0, max: base + extra, jitter: Jitter::Full },
                ..RetryPolicy::default()
            },
            breaker_threshold: bt,
            breaker_cooldown: bc,
            budget_tokens: if budget { 20.0 } else { 0.0 },
            budget_ratio: 0.1,
            max_concurrent: mc,
            max_queue: 0,
            max_wait: mw,
            min_interval: mi,
            aging,
            learn_share: learn,
        })
}

proptest! {
    #![proptest_config(cases(10))]

    /// Random calls, answers (with fuzzed headers), aborts and clock steps against one
    /// scheduler. Checks that no call is lost or duplicated, counts agree with `stats()`, no wake-
    /// up is in the past, waiting calls always have something that will wake them, and no pause
    /// or retry outlasts the configured caps.
    #[test]
    fn scheduler_sequences(config in small_config(), ops in proptest::collection::vec(op(), 1..60), seed in any::<u64>(), start in 0u64..=1u64 << 40) {
        let cap = config.retry.max_retry_after.max(config.retry.backoff.max);
        let mut s = Scheduler::new(config.clone(), seed);
        let mut now = start;
        let mut waiting: Vec<Ticket> = Vec::new();
        let mut calls = std::collections::HashMap::new();
        let mut in_flight: Vec<(SlotId, Ticket)> = Vec::new();
        let mut next_call = 0u64;
        let mut owner = std::collections::HashMap::new(); // ticket → call id
        for op in ops {
            match op {
                Op::Enqueue(priority) => match s.enqueue(priority, now) {
                    Ok((ticket, call)) => {
                        next_call += 1;
                        calls.insert(next_call, call);
                        owner.insert(ticket, next_call);
                        waiting.push(ticket);
                    }
                    Err(Rejection::WouldWait { retry_at }) => {
                        prop_assert!(config.max_wait > 0);
                        if let Some(at) = retry_at {
                            prop_assert!(at > now.saturating_add(config.max_wait));
                        }
                    }
                    Err(Rejection::QueueFull { .. }) => prop_assert!(false, "no maxQueue configured"),
                },
                Op::Complete { pick, outcome, signals } if !in_flight.is_empty() => {
                    let (slot, ticket) = in_flight.remove(pick % in_flight.len());
                    let id = owner.remove(&ticket).ok_or_else(|| TestCaseError::fail("unknown ticket"))?;
                    let mut call = calls.remove(&id).ok_or_else(|| TestCaseError::fail("unknown call"))?;
                    let c = s.complete(&mut call, slot, now, outcome, &signals, "GET");
                    if let Some(until) = c.paused_until {
                        prop_assert!(until >= now && until - now <= cap, "paused {} ms (cap {cap})", until - now);
                    }
                    for t in &c.dropped {
                        let i = waiting.iter().position(|w| w == t).ok_or_else(|| TestCaseError::fail("dropped a call that was not waiting"))?;
                        waiting.remove(i);
                        owner.remove(t);
                    }
                    match c.decision {
                        Decision::Retry { at, .. } => {
                            prop_assert!(at >= now && at - now <= cap, "retry in {} ms (cap {cap})", at - now);
                            let t = s.enqueue_retry(at, now);
                            owner.insert(t, id);
                            calls.insert(id, call);
                            waiting.push(t);
                        }
                        Decision::GiveUp { .. } => {}
                    }
                }
                Op::Cancel(pick) if !waiting.is_empty() => {
                    let t = waiting.remove(pick % waiting.len());
                    prop_assert!(s.cancel(t), "a waiting call could not be cancelled");
                    prop_assert!(!s.cancel(t));
                    owner.remove(&t);
                }
                Op::Revoke(pick) if !in_flight.is_empty() => {
                    let (slot, t) = in_flight.remove(pick % in_flight.len());
                    prop_assert!(s.revoke(slot, now));
                    prop_assert!(!s.revoke(slot, now));
                    owner.remove(&t);
                }
                Op::Advance(ms) => now = now.saturating_add(ms),
                _ => {}
            }
            let poll = s.poll(now);
            for (t, slot) in &poll.granted {
                let i = waiting.iter().position(|w| w == t).ok_or_else(|| TestCaseError::fail("granted a call that was not waiting"))?;
                waiting.remove(i);
                prop_assert!(!in_flight.iter().any(|(sl, _)| sl == slot), "slot granted twice");
                in_flight.push((*slot, *t));
            }
            for t in &poll.expired {
                prop_assert!(config.max_wait > 0, "a call expired without maxWaitMs");
                let i = waiting.iter().position(|w| w == t).ok_or_else(|| TestCaseError::fail("expired a call that was not waiting"))?;
                waiting.remove(i);
                owner.remove(t);
            }
            if let Some(at) = poll.wake_at {
                prop_assert!(at > now, "wake-up at {at} is not after now {now}");
            }
            let stats = s.stats(now);
            prop_assert_eq!(stats.in_flight as usize, in_flight.len());
            prop_assert_eq!(stats.queued as usize, waiting.len());
            if !waiting.is_empty() && in_flight.is_empty() {
                prop_assert!(poll.wake_at.is_some(), "{} calls wait with nothing in flight and no wake-up", waiting.len());
            }
        }
    }
}

/// The knob works and the default is within the time budget (the count is printed).
#[test]
fn case_budget_is_reported() {
    let total = total_cases();
    let weights = [200, 100, 100, 100, 100, 150, 100, 70, 70, 10];
    let inputs: u64 = weights.iter().map(|w| (total * w / 1000).max(16)).sum();
    eprintln!("fuzz: {inputs} generated inputs over 10 properties (FUZZ_CASES={total})");
    assert!(inputs >= total.min(100_000));
}


