//! The options decoder: a JS-neutral [`Value`] tree in, a validated [`Config`] or an error naming
//! the field out. Kept here (not in the bindings) so that it is tested and fuzzed as pure Rust.

use super::backoff::{BackoffPolicy, Jitter};
use super::retry::RetryPolicy;
use super::scheduler::Config;
use super::Millis;

/// A JS value, reduced to what options can hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `undefined` (or a missing field).
    Undefined,
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// A plain object's own enumerable fields, in order.
    Object(Vec<(String, Value)>),
    /// Anything else (function, symbol, bigint, …), by its `typeof`.
    Other(String),
}

impl Value {
    fn type_name(&self) -> &str {
        match self {
            Value::Undefined => "undefined",
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Other(t) => t,
        }
    }

    fn get(&self, key: &str) -> &Value {
        match self {
            Value::Object(fields) => fields.iter().find(|(k, _)| k == key).map_or(&Value::Undefined, |(_, v)| v),
            _ => &Value::Undefined,
        }
    }
}

/// Which JS error class an [`OptionError`] becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Wrong type (`TypeError`).
    Type,
    /// Right type, value out of range (`RangeError`).
    Range,
}

/// An invalid option, naming the field (`retry.limit`) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    /// `TypeError` or `RangeError`.
    pub kind: ErrorKind,
    /// The dotted path of the field.
    pub field: String,
    /// A sentence for the error message, starting with the field name.
    pub message: String,
}

impl std::fmt::Display for OptionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn type_error(field: &str, expected: &str, got: &Value) -> OptionError {
    OptionError {
        kind: ErrorKind::Type,
        field: field.to_string(),
        message: format!("ratewindow: `{field}` must be {expected}, got {}", got.type_name()),
    }
}

fn range_error(field: &str, expected: &str, got: f64) -> OptionError {
    let got = js_number(got);
    OptionError {
        kind: ErrorKind::Range,
        field: field.to_string(),
        message: format!("ratewindow: `{field}` must be {expected}, got {got}"),
    }
}

/// Spells a number roughly the way JS prints it, without Rust's float formatting (which would
/// add about 17 KB to the Wasm module for error messages alone): integers exactly, others with
/// up to six decimals.
fn js_number(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let sign = if n < 0.0 { "-" } else { "" };
    let abs = n.abs();
    if abs >= 1e15 {
        return format!("{sign}{}e+{}", (abs / 10f64.powi(abs.log10().floor() as i32)) as u64, abs.log10().floor() as u32);
    }
    let micros = (abs * 1e6).round() as u64;
    let (int, frac) = (micros / 1_000_000, micros % 1_000_000);
    if frac == 0 {
        return format!("{sign}{int}");
    }
    let digits = format!("{frac:06}");
    format!("{sign}{int}.{}", digits.trim_end_matches('0'))
}

/// The longest duration any option accepts: about 24.8 days, the longest `setTimeout` delay.
pub const MAX_DURATION_MS: Millis = 2_147_483_647;
/// The largest `limit`: memory is O(limit) per window.
pub const MAX_LIMIT: u32 = 1_000_000;

fn number(v: &Value, field: &str) -> Result<Option<f64>, OptionError> {
    match v {
        Value::Undefined => Ok(None),
        Value::Number(n) => Ok(Some(*n)),
        other => Err(type_error(field, "a number", other)),
    }
}

fn integer(v: &Value, field: &str, min: u32, max: u32, default: u32) -> Result<u32, OptionError> {
    match number(v, field)? {
        None => Ok(default),
        Some(n) if n.is_finite() && n.fract() == 0.0 && n >= f64::from(min) && n <= f64::from(max) => Ok(n as u32),
        Some(n) => Err(range_error(field, &format!("an integer from {min} to {max}"), n)),
    }
}

fn duration(v: &Value, field: &str, min: Millis, default: Millis) -> Result<Millis, OptionError> {
    match number(v, field)? {
        None => Ok(default),
        Some(n) if n.is_finite() && n >= min as f64 && n <= MAX_DURATION_MS as f64 => Ok(n.ceil() as Millis),
        Some(n) => Err(range_error(field, &format!("a finite number of milliseconds from {min} to {MAX_DURATION_MS}"), n)),
    }
}

fn object<'a>(v: &'a Value, field: &str, known: &[&str]) -> Result<&'a [(String, Value)], OptionError> {
    match v {
        Value::Object(fields) => {
            if let Some((k, _)) = fields.iter().find(|(k, _)| !known.contains(&k.as_str())) {
                // An empty name is named by where it is: `options` itself, or the nested object.
                let path = match (k.is_empty(), field.is_empty()) {
                    (false, true) => k.clone(),
                    (false, false) => format!("{field}.{k}"),
                    (true, true) => "options".to_string(),
                    (true, false) => field.to_string(),
                };
                let name = if k.is_empty() { format!("with an empty name in `{path}`") } else { format!("`{path}`") };
                return Err(OptionError {
                    kind: ErrorKind::Type,
                    message: format!("ratewindow: unknown option {name} (known: {})", known.join(", ")),
                    field: path,
                });
            }
            Ok(fields)
        }
        other => Err(type_error(if field.is_empty() { "options" } else { field }, "an object", other)),
    }
}

/// Top-level option names the decoder accepts.
pub const TOP: &[&str] = &[
    "limit",
    "windowMs",
    "windows",
    "safetyMarginMs",
    "maxConcurrent",
    "retry",
    "breaker",
    "retryBudget",
    "seed",
    "maxQueue",
    "maxWaitMs",
    "minIntervalMs",
    "priorityAgingMs",
    "learnShare",
];
/// Field names of `retry`.
pub const RETRY: &[&str] = &["limit", "maxRetryAfterMs", "baseMs", "factor", "maxMs", "jitter", "statusCodes", "methods"];
/// Field names of `breaker`.
pub const BREAKER: &[&str] = &["threshold", "cooldownMs"];
/// Field names of `retryBudget`.
pub const BUDGET: &[&str] = &["tokens", "ratio"];
/// Field names of each `windows[i]`.
pub const WINDOW: &[&str] = &["limit", "windowMs"];

/// Decodes and validates the options of `throttle(fetch, options)`. Also returns the `seed`
/// option, if given (deterministic jitter for tests).
pub fn decode(options: &Value) -> Result<(Config, Option<u64>), OptionError> {
    let defaults = Config::default();
    let top = match options {
        Value::Undefined | Value::Null => &Value::Object(Vec::new()),
        v => v,
    };
    object(top, "", TOP)?;
    let limit = integer(top.get("limit"), "limit", 1, MAX_LIMIT, 200)?;
    let window = duration(top.get("windowMs"), "windowMs", 1, 60_000)?;
    let mut windows = vec![(limit, window)];
    match top.get("windows") {
        Value::Undefined => {}
        Value::Array(items) => {
            if items.len() > 16 {
                return Err(range_error("windows", "at most 16 windows", items.len() as f64));
            }
            for (i, item) in items.iter().enumerate() {
                let field = format!("windows[{i}]");
                object(item, &field, WINDOW)?;
                let l = integer(item.get("limit"), &format!("{field}.limit"), 1, MAX_LIMIT, 0)?;
                let w = duration(item.get("windowMs"), &format!("{field}.windowMs"), 1, 0)?;
                if l == 0 || w == 0 {
                    return Err(type_error(&field, "an object with `limit` and `windowMs`", item));
                }
                windows.push((l, w));
            }
        }
        other => return Err(type_error("windows", "an array of { limit, windowMs }", other)),
    }
    let longest = windows.iter().map(|&(_, w)| w).max().unwrap_or(window);
    let margin = duration(top.get("safetyMarginMs"), "safetyMarginMs", 0, defaults.margin)?;
    let max_concurrent = integer(top.get("maxConcurrent"), "maxConcurrent", 0, MAX_LIMIT, 0)?;

    let mut retry = RetryPolicy::default();
    match top.get("retry") {
        Value::Undefined => {}
        Value::Bool(false) => retry.limit = 0,
        Value::Number(_) => retry.limit = integer(top.get("retry"), "retry", 0, 100, 5)?,
        r => {
            object(r, "retry", RETRY)?;
            retry.limit = integer(r.get("limit"), "retry.limit", 0, 100, retry.limit)?;
            retry.max_retry_after =
                duration(r.get("maxRetryAfterMs"), "retry.maxRetryAfterMs", 0, retry.max_retry_after)?;
            let base = duration(r.get("baseMs"), "retry.baseMs", 0, retry.backoff.base)?;
            let max = duration(r.get("maxMs"), "retry.maxMs", 0, retry.backoff.max)?;
            if max < base {
                return Err(range_error("retry.maxMs", &format!("at least retry.baseMs ({base})"), max as f64));
            }
            let factor = match number(r.get("factor"), "retry.factor")? {
                None => retry.backoff.factor,
                Some(f) if f.is_finite() && (1.0..=100.0).contains(&f) => f,
                Some(f) => return Err(range_error("retry.factor", "a finite number from 1 to 100", f)),
            };
            let jitter = match r.get("jitter") {
                Value::Undefined => retry.backoff.jitter,
                Value::String(s) => Jitter::parse(s).ok_or_else(|| OptionError {
                    kind: ErrorKind::Range,
                    field: "retry.jitter".into(),
                    message: format!(
                        "ratewindow: `retry.jitter` must be \"full\", \"equal\", \"decorrelated\" or \"none\", got \"{s}\""
                    ),
                })?,
                other => return Err(type_error("retry.jitter", "a string", other)),
            };
            retry.backoff = BackoffPolicy { base, factor, max, jitter };
            match r.get("statusCodes") {
                Value::Undefined => {}
                Value::Array(items) => {
                    let mut codes = Vec::with_capacity(items.len().min(64));
                    for (i, item) in items.iter().enumerate().take(1_000) {
                        let code = integer(item, &format!("retry.statusCodes[{i}]"), 100, 599, 0)?;
                        codes.push(code as u16);
                    }
                    retry.status_codes = codes;
                }
                other => return Err(type_error("retry.statusCodes", "an array of HTTP status codes", other)),
            }
            match r.get("methods") {
                Value::Undefined => {}
                Value::Array(items) => {
                    let mut methods = Vec::with_capacity(items.len().min(64));
                    for (i, item) in items.iter().enumerate().take(1_000) {
                        match item {
                            Value::String(m) if !m.is_empty() && m.len() <= 32 => methods.push(m.to_ascii_uppercase()),
                            other => {
                                return Err(type_error(&format!("retry.methods[{i}]"), "an HTTP method name", other))
                            }
                        }
                    }
                    retry.methods = methods;
                }
                other => return Err(type_error("retry.methods", "an array of HTTP method names", other)),
            }
        }
    }

    let (breaker_threshold, breaker_cooldown) = match top.get("breaker") {
        Value::Undefined => (defaults.breaker_threshold, longest),
        Value::Bool(false) => (0, longest),
        b => {
            object(b, "breaker", BREAKER)?;
            (
                integer(b.get("threshold"), "breaker.threshold", 1, 1_000, defaults.breaker_threshold)?,
                duration(b.get("cooldownMs"), "breaker.cooldownMs", 0, longest)?,
            )
        }
    };

    let (budget_tokens, budget_ratio) = match top.get("retryBudget") {
        Value::Undefined => (defaults.budget_tokens, defaults.budget_ratio),
        Value::Bool(false) => (0.0, 0.0),
        b => {
            object(b, "retryBudget", BUDGET)?;
            let tokens = integer(b.get("tokens"), "retryBudget.tokens", 2, 100_000, defaults.budget_tokens as u32)?;
            let ratio = match number(b.get("ratio"), "retryBudget.ratio")? {
                None => defaults.budget_ratio,
                Some(r) if r.is_finite() && (0.0..=1.0).contains(&r) => r,
                Some(r) => return Err(range_error("retryBudget.ratio", "a number from 0 to 1", r)),
            };
            (f64::from(tokens), ratio)
        }
    };

    let max_queue = integer(top.get("maxQueue"), "maxQueue", 0, u32::MAX, 0)?;
    let max_wait = duration(top.get("maxWaitMs"), "maxWaitMs", 0, 0)?;
    let min_interval = duration(top.get("minIntervalMs"), "minIntervalMs", 0, 0)?;
    let aging = duration(top.get("priorityAgingMs"), "priorityAgingMs", 0, longest)?;
    let learn_share = match top.get("learnShare") {
        Value::Undefined => true,
        Value::Bool(b) => *b,
        other => return Err(type_error("learnShare", "a boolean", other)),
    };

    let seed = match number(top.get("seed"), "seed")? {
        None => None,
        Some(s) if s.is_finite() && s >= 0.0 && s.fract() == 0.0 => Some(s as u64),
        Some(s) => return Err(range_error("seed", "a non-negative integer", s)),
    };

    Ok((
        Config {
            windows,
            margin,
            retry,
            breaker_threshold,
            breaker_cooldown,
            budget_tokens,
            budget_ratio,
            max_concurrent,
            max_queue,
            max_wait,
            min_interval,
            aging,
            learn_share,
        },
        seed,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(fields: &[(&str, Value)]) -> Value {
        Value::Object(fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    #[test]
    fn defaults_are_the_seed_api() {
        let (c, seed) = decode(&Value::Undefined).unwrap();
        assert_eq!(c.windows, vec![(200, 60_000)]);
        assert_eq!(c.retry.limit, 5);
        assert_eq!(c.retry.max_retry_after, 120_000);
        assert_eq!(c.breaker_threshold, 3);
        assert_eq!(c.breaker_cooldown, 60_000);
        assert_eq!(seed, None);
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let n = Value::Number;
        let cases: Vec<(Value, ErrorKind, &str)> = vec![
            (obj(&[("limit", n(0.0))]), ErrorKind::Range, "limit"),
            (obj(&[("limit", n(-1.0))]), ErrorKind::Range, "limit"),
            (obj(&[("limit", n(f64::NAN))]), ErrorKind::Range, "limit"),
            (obj(&[("limit", n(1.5))]), ErrorKind::Range, "limit"),
            (obj(&[("limit", Value::String("200".into()))]), ErrorKind::Type, "limit"),
            (obj(&[("windowMs", n(f64::INFINITY))]), ErrorKind::Range, "windowMs"),
            (obj(&[("windowMs", n(0.0))]), ErrorKind::Range, "windowMs"),
            (obj(&[("windowMs", Value::Null)]), ErrorKind::Type, "windowMs"),
            (obj(&[("windowMS", n(5.0))]), ErrorKind::Type, "windowMS"),
            (obj(&[("retry", obj(&[("jitter", Value::String("fancy".into()))]))]), ErrorKind::Range, "retry.jitter"),
            (obj(&[("retry", obj(&[("limit", n(-2.0))]))]), ErrorKind::Range, "retry.limit"),
            (obj(&[("retry", obj(&[("baseMs", n(500.0)), ("maxMs", n(100.0))]))]), ErrorKind::Range, "retry.maxMs"),
            (obj(&[("retry", obj(&[("factor", n(0.5))]))]), ErrorKind::Range, "retry.factor"),
            (obj(&[("retry", Value::String("yes".into()))]), ErrorKind::Type, "retry"),
            (obj(&[("retry", obj(&[("statusCodes", Value::Array(vec![n(42.0)]))]))]), ErrorKind::Range, "retry.statusCodes[0]"),
            (obj(&[("windows", Value::Array(vec![obj(&[("limit", n(2.0))])]))]), ErrorKind::Type, "windows[0]"),
            (obj(&[("breaker", obj(&[("threshold", n(0.0))]))]), ErrorKind::Range, "breaker.threshold"),
            (obj(&[("retryBudget", obj(&[("ratio", n(2.0))]))]), ErrorKind::Range, "retryBudget.ratio"),
            (Value::String("x".into()), ErrorKind::Type, "options"),
        ];
        for (input, kind, field) in cases {
            let err = decode(&input).unwrap_err();
            assert_eq!((err.kind, err.field.as_str()), (kind, field), "{input:?} → {err}");
            assert!(err.message.contains(field), "{}", err.message);
        }
    }

    #[test]
    fn numbers_are_spelled_like_js() {
        let cases = [(0.0, "0"), (-1.0, "-1"), (1.5, "1.5"), (0.1, "0.1"), (123.456789, "123.456789"), (2e20, "2e+20")];
        for (n, s) in cases {
            assert_eq!(js_number(n), s);
        }
        assert_eq!(js_number(f64::NAN), "NaN");
        assert_eq!(js_number(f64::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn full_options_decode() {
        let n = Value::Number;
        let input = obj(&[
            ("limit", n(10.0)),
            ("windowMs", n(1_000.0)),
            ("windows", Value::Array(vec![obj(&[("limit", n(100.0)), ("windowMs", n(60_000.0))])])),
            ("retry", obj(&[("limit", n(2.0)), ("jitter", Value::String("none".into())), ("methods", Value::Array(vec![Value::String("post".into())]))])),
            ("breaker", Value::Bool(false)),
            ("seed", n(7.0)),
        ]);
        let (c, seed) = decode(&input).unwrap();
        assert_eq!(c.windows, vec![(10, 1_000), (100, 60_000)]);
        assert_eq!(c.retry.limit, 2);
        assert_eq!(c.retry.backoff.jitter, Jitter::None);
        assert_eq!(c.retry.methods, vec!["POST".to_string()]);
        assert_eq!(c.breaker_threshold, 0);
        assert_eq!(c.breaker_cooldown, 60_000);
        assert_eq!(seed, Some(7));
        let (c, _) = decode(&obj(&[("retry", Value::Bool(false))])).unwrap();
        assert_eq!(c.retry.limit, 0);
    }
}
