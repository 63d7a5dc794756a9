//! Server rate-limit signals: `Retry-After`, the IETF `RateLimit*` fields (structured-field
//! drafts and their older dictionary forms) and the de-facto `X-RateLimit-*` fields.
//!
//! Every value here comes from a server we do not control, possibly a hostile or broken one, so
//! nothing in this module panics, overflows or does unbounded work: over-long values are
//! ignored, numbers saturate, and anything unreadable becomes `None` rather than an error, since
//! a missing hint only makes the throttle fall back to its own window.
//!
//! All times leave this module as delays from the moment the response arrived, because the
//! scheduler works on a monotonic clock that has no relation to the server's wall clock.

use super::Millis;

/// Lower-case names of every response header this module reads (so the JS edge fetches only
/// these).
pub const HEADER_NAMES: &[&str] = &[
    "retry-after",
    "ratelimit",
    "ratelimit-policy",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
];

/// Header values longer than this many bytes are ignored: no legitimate rate-limit field comes
/// close, and the cap bounds the parsing work a hostile server can cause.
pub const MAX_VALUE_LEN: usize = 4096;

/// A bare reset number at or above this is read as Unix-epoch milliseconds: as seconds it would be
/// a delay of over 31,000 years, so no server can mean that.
const EPOCH_MS_THRESHOLD: u64 = 1_000_000_000_000;

/// A bare reset number at or above this is read as Unix-epoch seconds: as a delay it would be over
/// 31 years, while as a timestamp it is any date after September 2001.
const EPOCH_S_THRESHOLD: u64 = 1_000_000_000;

/// What the server told us about its limit, with every time as a delay from the moment the
/// response arrived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signals {
    /// Retry-After, as a delay (an HTTP-date in the past → `Some(0)`).
    pub retry_after_ms: Option<Millis>,
    /// Requests left in the server's current window.
    pub remaining: Option<u64>,
    /// Delay until the server's quota resets.
    pub reset_ms: Option<Millis>,
    /// The server's quota.
    pub limit: Option<u64>,
    /// The server's window length (RateLimit-Policy `w=`).
    pub window_ms: Option<Millis>,
}

impl Signals {
    /// The earliest time (as a delay) the server says a new request may succeed, if it said one:
    /// Retry-After when present; otherwise the reset delay when remaining == 0.
    ///
    /// A non-zero `remaining` says nothing about waiting, so it yields `None` even with a reset.
    pub fn server_wait_ms(&self) -> Option<Millis> {
        match (self.retry_after_ms, self.remaining) {
            (Some(wait), _) => Some(wait),
            (None, Some(0)) => self.reset_ms,
            _ => None,
        }
    }
}

/// Parses Retry-After (RFC 9110 §10.2.3): delay-seconds (1*DIGIT only: no sign, no fraction,
/// surrounding whitespace allowed) or an HTTP-date. `wall_now_ms` is Unix-epoch milliseconds now.
/// Returns the delay in ms; a date in the past gives `Some(0)`; garbage gives `None`.
///
/// Delay-seconds saturate at `u64::MAX` ms rather than failing, so an absurd value still reads
/// as "a very long time" and the caller's cap decides what that means.
pub fn parse_retry_after(value: &str, wall_now_ms: Millis) -> Option<Millis> {
    if value.len() > MAX_VALUE_LEN {
        return None;
    }
    let value = trim_ows(value);
    if let Some(seconds) = parse_digits(value) {
        return Some(seconds.saturating_mul(1000));
    }
    parse_http_date(value).map(|at| at.saturating_sub(wall_now_ms))
}

/// Parses an HTTP-date in the three RFC 9110 §5.6.7 formats and returns Unix-epoch milliseconds.
///
/// Accepted: IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, obsolete RFC 850
/// `Sunday, 06-Nov-94 08:49:37 GMT` and asctime `Sun Nov  6 08:49:37 1994`.
///
/// Leniency, because servers are sloppy and a readable hint beats none: names match without
/// regard to case, runs of whitespace count as one space, the day may have one or two digits,
/// the weekday may be short or long in any format (and may be left out of IMF-fixdate), and
/// RFC 850 also takes a four-digit year. The weekday is not checked against the date, but it must
/// be a real day name when present. The zone must be `GMT`: any other zone would need an offset
/// we would have to trust.
///
/// Strictness, because a wrong date is worse than none: the time must be `HH:MM:SS` with two
/// digits each, the fields must be in range (a leap second `:60` counts as `:59`, since Unix time
/// has no slot for it), the day must exist in that month and year, and nothing may follow.
///
/// A two-digit RFC 850 year is windowed without a clock: `70`–`99` are 19xx and `00`–`69` are
/// 20xx. That is RFC 9110's "no more than 50 years ahead" rule as it stood in 2019; since then
/// the rule moves the low 70s into the 2070s one year at a time, while we keep them in the
/// 1970s. A Retry-After decades away is implausible either way and RFC 850 dates are obsolete,
/// so a parser that needs no clock is worth that.
///
/// Dates before 1970 give `None`: they cannot be Unix-epoch milliseconds in a `u64`.
pub fn parse_http_date(value: &str) -> Option<Millis> {
    if value.len() > MAX_VALUE_LEN {
        return None;
    }
    let mut tokens = value.split_ascii_whitespace();
    let first = tokens.next()?;
    let (year, month, day, time) = if let Some(day_name) = first.strip_suffix(',') {
        if !is_day_name(day_name) {
            return None;
        }
        let date = tokens.next()?;
        if date.contains('-') {
            // RFC 850: `06-Nov-94 08:49:37 GMT`.
            let (day, rest) = date.split_once('-')?;
            let (month, year) = rest.split_once('-')?;
            let year = match year.len() {
                2 => window_two_digit_year(parse_digits(year)?),
                4 => parse_digits(year)?,
                _ => return None,
            };
            let time = tokens.next()?;
            expect_gmt(tokens.next()?)?;
            (year, parse_month(month)?, parse_day(day)?, time)
        } else {
            // IMF-fixdate: `06 Nov 1994 08:49:37 GMT`.
            imf_rest(date, &mut tokens)?
        }
    } else if first.bytes().all(|b| b.is_ascii_digit()) {
        // IMF-fixdate with the optional weekday left out, as RFC 5322 permits.
        imf_rest(first, &mut tokens)?
    } else {
        // asctime: `Sun Nov  6 08:49:37 1994`.
        if !is_day_name(first) {
            return None;
        }
        let month = parse_month(tokens.next()?)?;
        let day = parse_day(tokens.next()?)?;
        let time = tokens.next()?;
        let year = parse_year4(tokens.next()?)?;
        (year, month, day, time)
    };
    if tokens.next().is_some() {
        return None;
    }
    let (hour, minute, second) = parse_time(time)?;
    if year < 1970 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_since_epoch(year, month, day);
    let seconds = days
        .checked_mul(86_400)?
        .checked_add(hour.checked_mul(3600)?)?
        .checked_add(minute.checked_mul(60)?)?
        .checked_add(second)?;
    seconds.checked_mul(1000)
}

/// Reads every signal from a header lookup (`get` takes a lower-case name and returns the value,
/// if present).
///
/// Each field is taken from the most authoritative family that supplied it, in this order:
/// the structured IETF `RateLimit`/`RateLimit-Policy` (draft-07+), the older `RateLimit`
/// dictionary, the older separate `RateLimit-Limit`/`-Remaining`/`-Reset`, then
/// `X-RateLimit-*`. The choice is per field, so a server that sends `RateLimit` without a policy
/// but with `X-RateLimit-Limit` still yields a limit.
///
/// Resets in the older and `X-` forms are told apart by size: at least 10^12 is epoch
/// milliseconds, at least 10^9 epoch seconds, anything smaller delay-seconds, because servers in
/// the wild (GitHub, GitLab, Twitter) send epoch times under those names, and a delay that large
/// (31 years and up) is never meant literally. An epoch time already past is a delay of zero.
/// The draft-07+ `t=` is always delay-seconds, as that draft requires. Fractional seconds round
/// the delay up, so we never come back early.
///
/// When a proxy duplicated a `*-Remaining` or `*-Reset` header (so the values arrive joined as
/// `5, 3`), the smallest remaining and the longest reset are taken.
pub fn parse_signals<'a>(get: impl Fn(&str) -> Option<&'a str>, wall_now_ms: Millis) -> Signals {
    let get = |name: &str| get(name).filter(|value| value.len() <= MAX_VALUE_LEN);

    let ratelimit = get("ratelimit")
        .map(parse_ratelimit_field)
        .unwrap_or_default();
    let chosen = choose_ratelimit_item(&ratelimit.items);
    let policy = get("ratelimit-policy")
        .map(|value| choose_policy(&members(value), chosen.map(|item| item.name)))
        .unwrap_or_default();
    let legacy_limit = get("ratelimit-limit")
        .map(parse_limit_field)
        .unwrap_or_default();
    let x_limit = get("x-ratelimit-limit")
        .map(parse_limit_field)
        .unwrap_or_default();

    Signals {
        retry_after_ms: get("retry-after").and_then(|value| parse_retry_after(value, wall_now_ms)),
        remaining: chosen
            .and_then(|item| item.remaining)
            .or(ratelimit.dict_remaining)
            .or_else(|| get("ratelimit-remaining").and_then(least_remaining))
            .or_else(|| get("x-ratelimit-remaining").and_then(least_remaining)),
        reset_ms: chosen
            .and_then(|item| item.reset_ms)
            .or_else(|| {
                ratelimit
                    .dict_reset
                    .and_then(|value| parse_reset(value, wall_now_ms))
            })
            .or_else(|| get("ratelimit-reset").and_then(|value| latest_reset(value, wall_now_ms)))
            .or_else(|| {
                get("x-ratelimit-reset").and_then(|value| latest_reset(value, wall_now_ms))
            }),
        limit: policy
            .quota
            .or(ratelimit.dict_limit.quota)
            .or(legacy_limit.quota)
            .or(x_limit.quota),
        window_ms: policy
            .window_ms
            .or(ratelimit.dict_limit.window_ms)
            .or(legacy_limit.window_ms)
            .or(x_limit.window_ms),
    }
}

// ---------------------------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------------------------

/// Trims optional whitespace. Only ASCII counts: a Unicode space around a number is more likely
/// corruption than formatting, and accepting it would make `"\u{3000}5"` mean 5.
fn trim_ows(value: &str) -> &str {
    value.trim_matches(|c: char| c.is_ascii_whitespace())
}

/// `1*DIGIT` as a saturating `u64`: a 400-digit number means "huge", not "invalid".
fn parse_digits(value: &str) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.bytes().try_fold(0u64, |acc, byte| {
        let digit = byte.checked_sub(b'0').filter(|digit| *digit <= 9)?;
        Some(acc.saturating_mul(10).saturating_add(u64::from(digit)))
    })
}

/// A non-negative decimal `1*DIGIT [ "." 1*DIGIT ]`, kept both as its whole part and as
/// milliseconds rounded up, which is what every seconds field here needs.
#[derive(Debug, Clone, Copy)]
struct Seconds {
    /// The integer part, saturated.
    whole: u64,
    /// Whether any fractional digit was non-zero.
    fractional: bool,
    /// The value in milliseconds, rounded up and saturated.
    ms_ceil: u64,
}

/// Parses [`Seconds`]. Signs, exponents, `nan`/`inf` and bare dots are refused: they are either
/// meaningless for a delay or a sign that the server is not sending what we think.
fn parse_seconds(value: &str) -> Option<Seconds> {
    let value = trim_ows(value);
    let (whole, fraction) = match value.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (value, None),
    };
    let whole = parse_digits(whole)?;
    let mut frac_ms: u64 = 0;
    let mut fractional = false;
    let mut round_up = false;
    if let Some(fraction) = fraction {
        if fraction.is_empty() {
            return None;
        }
        for (position, byte) in fraction.bytes().enumerate() {
            let digit = u64::from(byte.checked_sub(b'0').filter(|digit| *digit <= 9)?);
            fractional |= digit != 0;
            if position < 3 {
                frac_ms = frac_ms.saturating_mul(10).saturating_add(digit);
            } else {
                round_up |= digit != 0;
            }
        }
        // Scale a one- or two-digit fraction up to milliseconds.
        for _ in fraction.len()..3 {
            frac_ms = frac_ms.saturating_mul(10);
        }
    }
    let ms_ceil = whole
        .saturating_mul(1000)
        .saturating_add(frac_ms)
        .saturating_add(u64::from(round_up));
    Some(Seconds {
        whole,
        fractional,
        ms_ceil,
    })
}

/// Delay-seconds (possibly fractional) as milliseconds, rounded up so we never retry early.
fn parse_delay_ms(value: &str) -> Option<Millis> {
    parse_seconds(value).map(|seconds| seconds.ms_ceil)
}

/// A reset that may be delay-seconds, epoch seconds or epoch milliseconds, told apart by size
/// (see [`EPOCH_S_THRESHOLD`] and [`EPOCH_MS_THRESHOLD`]); returned as a delay from now, where a
/// moment already past is a delay of zero.
fn parse_reset(value: &str, wall_now_ms: Millis) -> Option<Millis> {
    let seconds = parse_seconds(value)?;
    if seconds.whole >= EPOCH_MS_THRESHOLD {
        let at = seconds.whole.saturating_add(u64::from(seconds.fractional));
        Some(at.saturating_sub(wall_now_ms))
    } else if seconds.whole >= EPOCH_S_THRESHOLD {
        Some(seconds.ms_ceil.saturating_sub(wall_now_ms))
    } else {
        Some(seconds.ms_ceil)
    }
}

// ---------------------------------------------------------------------------------------------
// Structured fields (RFC 8941), read tolerantly
// ---------------------------------------------------------------------------------------------

/// One member of a structured-field List or Dictionary, kept as borrowed slices.
///
/// This is not a validating RFC 8941 parser: a strict parser would throw away a whole field for
/// one stray space, and here a partial reading is worth more than none.
#[derive(Debug, Clone)]
struct Member<'a> {
    /// The bare item, or `key=value` for a Dictionary member, trimmed.
    head: &'a str,
    /// Parameters as `(key, value)`, trimmed. Valueless (Boolean true) parameters are dropped:
    /// every parameter we read is numeric.
    params: Vec<(&'a str, &'a str)>,
}

impl<'a> Member<'a> {
    /// A parameter's value; the last occurrence wins, as RFC 8941 says for duplicate keys.
    fn param(&self, key: &str) -> Option<&'a str> {
        self.params
            .iter()
            .rev()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| *value)
    }

    /// The `key=value` split of a Dictionary member. Only a key-shaped left side counts, so a
    /// List item whose string or inner list holds a `=` (`"a=b"`, `(a;t=9)`) stays an item.
    fn dict_entry(&self) -> Option<(&'a str, &'a str)> {
        let (key, value) = self.head.split_once('=')?;
        let key = trim_ows(key);
        let key_shaped = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'*'));
        key_shaped.then(|| (key, trim_ows(value)))
    }

    /// The item's name with sf-string quotes removed, so the token `default` and the string
    /// `"default"` name the same policy.
    fn name(&self) -> &'a str {
        self.head
            .strip_prefix('"')
            .and_then(|inner| inner.strip_suffix('"'))
            .unwrap_or(self.head)
    }
}

/// Splits on `separator` outside sf-strings and inner lists, so `"a,b";r=1` stays one member.
/// An unterminated string runs to the end, which keeps the split total.
fn split_top_level(value: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut depth = 0u32;
    for (index, c) in value.char_indices() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' => depth = depth.saturating_add(1),
            ')' => depth = depth.saturating_sub(1),
            _ if c == separator && depth == 0 => {
                if let Some(part) = value.get(start..index) {
                    parts.push(part);
                }
                start = index.saturating_add(c.len_utf8());
            }
            _ => {}
        }
    }
    if let Some(part) = value.get(start..) {
        parts.push(part);
    }
    parts
}

/// The members of a List or Dictionary field; empty members (`a,,b`) are skipped.
fn members(value: &str) -> Vec<Member<'_>> {
    split_top_level(value, ',')
        .into_iter()
        .filter_map(|member| {
            let mut parts = split_top_level(member, ';').into_iter();
            let head = trim_ows(parts.next()?);
            let params: Vec<_> = parts
                .filter_map(|param| param.split_once('='))
                .map(|(key, value)| (trim_ows(key), trim_ows(value)))
                .collect();
            // A nameless item that still says `r=0` is worth hearing; a bare stray comma is not.
            if head.is_empty() && params.is_empty() {
                return None;
            }
            Some(Member { head, params })
        })
        .collect()
}

/// The smallest readable count in a `*-Remaining` field. There should be one, but a proxy that
/// duplicates the header makes `fetch` join the copies as `5, 3`, and the smaller is the safe
/// reading; unreadable members are skipped rather than spoiling the rest.
fn least_remaining(value: &str) -> Option<u64> {
    members(value)
        .iter()
        .filter_map(|member| parse_digits(member.head))
        .min()
}

/// The longest readable delay in a `*-Reset` field, for the same reason as [`least_remaining`]:
/// waiting too long costs a little throughput, coming back too early costs a 429.
fn latest_reset(value: &str, wall_now_ms: Millis) -> Option<Millis> {
    members(value)
        .iter()
        .filter_map(|member| parse_reset(member.head, wall_now_ms))
        .max()
}

// ---------------------------------------------------------------------------------------------
// The RateLimit families
// ---------------------------------------------------------------------------------------------

/// One draft-07+ `RateLimit` item.
#[derive(Debug, Clone, Copy)]
struct RateLimitItem<'a> {
    /// The policy name, unquoted (empty for a nameless item).
    name: &'a str,
    /// `r=`.
    remaining: Option<u64>,
    /// `t=`, in ms.
    reset_ms: Option<Millis>,
}

/// A quota and its window, from a policy item or an older `*-Limit` field.
#[derive(Debug, Clone, Copy, Default)]
struct Policy {
    /// The quota (`q=` or a bare integer).
    quota: Option<u64>,
    /// The window (`w=`), in ms.
    window_ms: Option<Millis>,
}

/// What a `RateLimit` field holds: draft-07+ items and, from older drafts, dictionary entries.
/// Both are collected because a server mid-migration might send either.
#[derive(Debug, Clone, Default)]
struct RateLimitField<'a> {
    /// Items carrying `r=` or `t=`.
    items: Vec<RateLimitItem<'a>>,
    /// `limit=` (with `w=` if the server attached one).
    dict_limit: Policy,
    /// `remaining=`.
    dict_remaining: Option<u64>,
    /// `reset=`, unparsed, as it needs the wall clock.
    dict_reset: Option<&'a str>,
}

/// Reads a `RateLimit` field in either its structured (draft-07+) or dictionary (≤ draft-06)
/// form.
fn parse_ratelimit_field(value: &str) -> RateLimitField<'_> {
    let mut field = RateLimitField::default();
    for member in members(value) {
        if let Some((key, value)) = member.dict_entry() {
            if key.eq_ignore_ascii_case("limit") {
                field.dict_limit = Policy {
                    quota: parse_digits(value),
                    window_ms: member.param("w").and_then(parse_delay_ms),
                };
            } else if key.eq_ignore_ascii_case("remaining") {
                field.dict_remaining = parse_digits(value);
            } else if key.eq_ignore_ascii_case("reset") {
                field.dict_reset = Some(value);
            }
            continue;
        }
        let remaining = member.param("r").and_then(parse_digits);
        let reset_ms = member.param("t").and_then(parse_delay_ms);
        if remaining.is_some() || reset_ms.is_some() {
            field.items.push(RateLimitItem {
                name: member.name(),
                remaining,
                reset_ms,
            });
        }
    }
    field
}

/// The most restrictive item: fewest requests left, then the longest wait for a reset. Items
/// without a remaining count rank last, as they tell us least.
fn choose_ratelimit_item<'a, 'b>(items: &'b [RateLimitItem<'a>]) -> Option<&'b RateLimitItem<'a>> {
    items.iter().min_by_key(|item| {
        (
            item.remaining.is_none(),
            item.remaining.unwrap_or(0),
            std::cmp::Reverse(item.reset_ms),
        )
    })
}

/// Picks the policy describing the same quota as the chosen `RateLimit` item (same name);
/// failing that, the most restrictive (smallest quota, then longest window). Works on draft-07+
/// items (`"name";q=100;w=60`) and on older ones whose bare item is the quota (`100;w=60`).
fn choose_policy(members: &[Member<'_>], name: Option<&str>) -> Policy {
    let policies: Vec<(&str, Policy)> = members
        .iter()
        .map(|member| {
            let quota = member
                .param("q")
                .and_then(parse_digits)
                .or_else(|| parse_digits(member.head));
            let window_ms = member.param("w").and_then(parse_delay_ms);
            (member.name(), Policy { quota, window_ms })
        })
        .filter(|(_, policy)| policy.quota.is_some() || policy.window_ms.is_some())
        .collect();
    if let Some((_, policy)) =
        name.and_then(|name| policies.iter().find(|(other, _)| *other == name))
    {
        return *policy;
    }
    policies
        .iter()
        .min_by_key(|(_, policy)| {
            (
                policy.quota.is_none(),
                policy.quota.unwrap_or(0),
                std::cmp::Reverse(policy.window_ms),
            )
        })
        .map(|(_, policy)| *policy)
        .unwrap_or_default()
}

/// Reads an older `RateLimit-Limit` (or `X-RateLimit-Limit`), e.g. `100` or
/// `100, 100;w=60, 1000;w=3600`. The first number is the quota in force; its window is the `w=`
/// of the first member with that quota that gives one, since later members may describe other,
/// longer quotas.
fn parse_limit_field(value: &str) -> Policy {
    let members = members(value);
    let Some(first) = members.first() else {
        return Policy::default();
    };
    let Some(quota) = parse_digits(first.head) else {
        return Policy::default();
    };
    let window_ms = members
        .iter()
        .filter(|member| parse_digits(member.head) == Some(quota))
        .find_map(|member| member.param("w").and_then(parse_delay_ms));
    Policy {
        quota: Some(quota),
        window_ms,
    }
}

// ---------------------------------------------------------------------------------------------
// Calendar
// ---------------------------------------------------------------------------------------------

/// Short and long English day names, as HTTP-dates use.
const DAY_NAMES: [(&str, &str); 7] = [
    ("Mon", "Monday"),
    ("Tue", "Tuesday"),
    ("Wed", "Wednesday"),
    ("Thu", "Thursday"),
    ("Fri", "Friday"),
    ("Sat", "Saturday"),
    ("Sun", "Sunday"),
];

/// English month abbreviations in calendar order.
const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Whether `name` is a short or long day name.
fn is_day_name(name: &str) -> bool {
    DAY_NAMES
        .iter()
        .any(|(short, long)| name.eq_ignore_ascii_case(short) || name.eq_ignore_ascii_case(long))
}

/// A month abbreviation as 1..=12.
fn parse_month(name: &str) -> Option<u64> {
    MONTH_NAMES
        .iter()
        .zip(1u64..)
        .find(|(month, _)| name.eq_ignore_ascii_case(month))
        .map(|(_, number)| number)
}

/// A day of the month, one or two digits, 1..=31 (the month check comes later).
fn parse_day(value: &str) -> Option<u64> {
    if value.len() > 2 {
        return None;
    }
    parse_digits(value).filter(|day| (1..=31).contains(day))
}

/// A four-digit year.
fn parse_year4(value: &str) -> Option<u64> {
    if value.len() != 4 {
        return None;
    }
    parse_digits(value)
}

/// See [`parse_http_date`] for why this window.
fn window_two_digit_year(year: u64) -> u64 {
    if year >= 70 {
        1900u64.saturating_add(year)
    } else {
        2000u64.saturating_add(year)
    }
}

/// Requires the literal zone `GMT`.
fn expect_gmt(token: &str) -> Option<()> {
    token.eq_ignore_ascii_case("GMT").then_some(())
}

/// The rest of an IMF-fixdate after the weekday: `06 Nov 1994 08:49:37 GMT`.
fn imf_rest<'a>(
    day: &str,
    tokens: &mut impl Iterator<Item = &'a str>,
) -> Option<(u64, u64, u64, &'a str)> {
    let day = parse_day(day)?;
    let month = parse_month(tokens.next()?)?;
    let year = parse_year4(tokens.next()?)?;
    let time = tokens.next()?;
    expect_gmt(tokens.next()?)?;
    Some((year, month, day, time))
}

/// `HH:MM:SS`, two digits each; a leap second becomes `:59` because Unix time cannot hold `:60`.
fn parse_time(value: &str) -> Option<(u64, u64, u64)> {
    let mut fields = value.split(':');
    let mut next = || {
        fields
            .next()
            .filter(|field| field.len() == 2)
            .and_then(parse_digits)
    };
    let hour = next().filter(|hour| *hour < 24)?;
    let minute = next().filter(|minute| *minute < 60)?;
    let second = next().filter(|second| *second <= 60)?.min(59);
    if fields.next().is_some() {
        return None;
    }
    Some((hour, minute, second))
}

/// Gregorian leap years.
fn is_leap_year(year: u64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in a month (1..=12) of `year`; 0 for an impossible month, so any day fails the check.
fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 1970-01-01 to a valid date in 1970..=9999 (Howard Hinnant's `days_from_civil`,
/// which needs no loop or table). Unsigned is enough because years before 1970 never get here.
fn days_since_epoch(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 {
        year.saturating_sub(1)
    } else {
        year
    };
    let era = year / 400;
    let year_of_era = year % 400;
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day.saturating_sub(1);
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * 146_097 + day_of_era).saturating_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cell::RefCell;

    /// Tue, 14 Nov 2023 22:13:20 GMT (checked with `date -u -d @1700000000`).
    const NOW: Millis = 1_700_000_000_000;
    /// Sun, 06 Nov 1994 08:49:37 GMT, the RFC's example.
    const RFC_EXAMPLE_MS: Millis = 784_111_777_000;
    /// Fri, 31 Dec 9999 23:59:59 GMT, the last instant an HTTP-date can name.
    const MAX_DATE_MS: Millis = 253_402_300_799_000;

    const NON_ASCII: &[&str] = &["é", "€", "😀", "\u{a0}", "\u{3000}", "\u{feff}", "\u{0301}"];

    fn run(headers: &[(&str, &str)], now: Millis) -> Signals {
        parse_signals(
            |name| {
                headers
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| *value)
            },
            now,
        )
    }

    fn run_owned(headers: &[(&str, String)], now: Millis) -> Signals {
        parse_signals(
            |name| {
                headers
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.as_str())
            },
            now,
        )
    }

    /// Every way to put `insert` into `value` at a char boundary, plus every way to replace one
    /// char with it.
    fn mutations(value: &str, insert: &str) -> Vec<String> {
        let mut out = Vec::new();
        let boundaries: Vec<usize> = value
            .char_indices()
            .map(|(index, _)| index)
            .chain(std::iter::once(value.len()))
            .collect();
        for &at in &boundaries {
            out.push(format!("{}{}{}", &value[..at], insert, &value[at..]));
        }
        for (at, c) in value.char_indices() {
            out.push(format!(
                "{}{}{}",
                &value[..at],
                insert,
                &value[at + c.len_utf8()..]
            ));
        }
        out
    }

    // ---- HTTP-date -------------------------------------------------------------------------

    #[test]
    fn http_date_valid() {
        let cases: &[(&str, Millis)] = &[
            ("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE_MS),
            ("Sunday, 06-Nov-94 08:49:37 GMT", RFC_EXAMPLE_MS),
            ("Sun Nov  6 08:49:37 1994", RFC_EXAMPLE_MS),
            ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
            ("Thursday, 01-Jan-70 00:00:00 GMT", 0),
            ("Thu Jan  1 00:00:00 1970", 0),
            ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_DATE_MS),
            ("Fri Dec 31 23:59:59 9999", MAX_DATE_MS),
            ("Tue, 29 Feb 2000 00:00:00 GMT", 951_782_400_000),
            ("Tue, 29 Feb 2400 12:00:00 GMT", 13_574_606_400_000),
            ("Thu, 29 Feb 2024 23:59:59 GMT", 1_709_251_199_000),
            ("Tue, 19 Jan 2038 03:14:07 GMT", 2_147_483_647_000),
            ("Sun, 09 Sep 2001 01:46:40 GMT", 1_000_000_000_000),
            ("Tue, 14 Nov 2023 22:13:20 GMT", NOW),
            // Leap second: counted as :59.
            ("Sat, 31 Dec 2016 23:59:60 GMT", 1_483_228_799_000),
            ("Sat, 31 Dec 2016 23:59:59 GMT", 1_483_228_799_000),
            // RFC 850 two-digit years: 70-99 → 19xx, 00-69 → 20xx.
            ("Friday, 31-Dec-99 23:59:59 GMT", 946_684_799_000),
            ("Tuesday, 01-Jan-69 00:00:00 GMT", 3_124_224_000_000),
            ("Sunday, 06-Nov-1994 08:49:37 GMT", RFC_EXAMPLE_MS),
            // Weekday need not match the date, but must be a day name.
            ("Mon, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE_MS),
            ("Monday, 06-Nov-94 08:49:37 GMT", RFC_EXAMPLE_MS),
            ("Wed Nov  6 08:49:37 1994", RFC_EXAMPLE_MS),
            ("Sunday Nov  6 08:49:37 1994", RFC_EXAMPLE_MS),
            ("Sun, 06-Nov-94 08:49:37 GMT", RFC_EXAMPLE_MS),
            // Lenient spacing, case and day width.
            ("06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE_MS),
            ("Sun, 6 Nov 1994 08:49:37 GMT", RFC_EXAMPLE_MS),
            ("  Sun,   06 Nov 1994\t08:49:37 GMT \r\n", RFC_EXAMPLE_MS),
            ("sun, 06 nov 1994 08:49:37 gmt", RFC_EXAMPLE_MS),
            ("SUN, 06 NOV 1994 08:49:37 GMT", RFC_EXAMPLE_MS),
            ("Sun Nov 06 08:49:37 1994", RFC_EXAMPLE_MS),
            ("Sun Nov 6 08:49:37 1994", RFC_EXAMPLE_MS),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_http_date(input), Some(*expected), "{input:?}");
        }
    }

    #[test]
    fn http_date_invalid() {
        let cases: &[&str] = &[
            "",
            " ",
            "\t \r\n",
            "GMT",
            "Sun,",
            "Sun, 06 Nov 1994 25:00:00 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49:61 GMT",
            "Sun, 06 Nov 1994 99:99:99 GMT",
            "Wed, 30 Feb 2000 00:00:00 GMT",
            "Fri, 29 Feb 2001 00:00:00 GMT",
            "Mon, 29 Feb 2100 00:00:00 GMT",
            "Sun, 31 Apr 2000 00:00:00 GMT",
            "Sun Nov 31 08:49:37 1994",
            "Wednesday, 30-Feb-00 00:00:00 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 006 Nov 1994 08:49:37 GMT",
            "Sun, -6 Nov 1994 08:49:37 GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            // Before 1970.
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Thu, 01 Jan 1970 00:00:00 GMT-1",
            "Mon, 01 Jan 1900 00:00:00 GMT",
            "Sun, 06 Nov 0000 08:49:37 GMT",
            "Wed Dec 31 23:59:59 1969",
            // Five-digit and two-digit years where four are required.
            "Sat, 01 Jan 10000 00:00:00 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 94",
            "Sunday, 06-Nov-194 08:49:37 GMT",
            "Sunday, 06-Nov-19940 08:49:37 GMT",
            "Sunday, 06-Nov 08:49:37 GMT",
            "Sunday, 06-13-94 08:49:37 GMT",
            // Names.
            "Foo, 06 Nov 1994 08:49:37 GMT",
            "Su, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 November 1994 08:49:37 GMT",
            "Sun, 06 11 1994 08:49:37 GMT",
            "Foo Nov  6 08:49:37 1994",
            // Zone.
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37 +0000",
            "Sun, 06 Nov 1994 08:49:37",
            "Sunday, 06-Nov-94 08:49:37",
            // Trailing and missing parts.
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "Sun, 06 Nov 1994 08:49:37 GMT GMT",
            "Sun Nov  6 08:49:37 1994 GMT",
            "Sun, 06 Nov 1994 GMT",
            "Sun, 06 Nov 08:49:37 GMT",
            // Time shape.
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nov 1994 08:9:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37:00 GMT",
            "Sun, 06 Nov 1994 08:49:37.5 GMT",
            "Sun, 06 Nov 1994 +8:49:37 GMT",
            "Sun, 06 Nov 1994 08::37 GMT",
            // Missing comma makes it neither IMF nor asctime.
            "Sun 06 Nov 1994 08:49:37 GMT",
            // Other formats and numbers.
            "1994-11-06T08:49:37Z",
            "784111777",
            "NaN",
            "Infinity",
            // Unicode look-alikes.
            "Sun,\u{a0}06 Nov 1994 08:49:37 GMT",
            "Sun, \u{ff10}\u{ff16} Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 G\u{1d39}T",
        ];
        for input in cases {
            assert_eq!(parse_http_date(input), None, "{input:?}");
        }
    }

    #[test]
    fn http_date_length_limit() {
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        let fits = format!("{date}{}", " ".repeat(MAX_VALUE_LEN - date.len()));
        assert_eq!(fits.len(), MAX_VALUE_LEN);
        assert_eq!(parse_http_date(&fits), Some(RFC_EXAMPLE_MS));
        let too_long = format!("{fits} ");
        assert_eq!(parse_http_date(&too_long), None);
        assert_eq!(parse_http_date(&" ".repeat(5000)), None);
        assert_eq!(parse_http_date(&date.repeat(200)), None);
    }

    #[test]
    fn http_date_non_ascii_anywhere_is_rejected() {
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(date), Some(RFC_EXAMPLE_MS));
            for insert in NON_ASCII {
                for mutated in mutations(date, insert) {
                    assert_eq!(parse_http_date(&mutated), None, "{mutated:?}");
                    assert_eq!(parse_retry_after(&mutated, 0), None, "{mutated:?}");
                }
            }
        }
    }

    // ---- Retry-After -----------------------------------------------------------------------

    #[test]
    fn retry_after_valid() {
        let cases: Vec<(String, Millis, Option<Millis>)> = vec![
            ("120".into(), NOW, Some(120_000)),
            ("  120 \t".into(), NOW, Some(120_000)),
            ("0".into(), NOW, Some(0)),
            ("007".into(), NOW, Some(7_000)),
            ("1".into(), 0, Some(1_000)),
            // Largest seconds that still fit after * 1000, then the first that saturates.
            (
                "18446744073709551".into(),
                NOW,
                Some(18_446_744_073_709_551_000),
            ),
            ("18446744073709552".into(), NOW, Some(u64::MAX)),
            ("18446744073709551616".into(), NOW, Some(u64::MAX)),
            ("9".repeat(400), NOW, Some(u64::MAX)),
            ("0".repeat(399) + "5", NOW, Some(5_000)),
            // Dates become delays from now.
            ("Tue, 14 Nov 2023 22:15:00 GMT".into(), NOW, Some(100_000)),
            (
                "Tue, 14 Nov 2023 22:15:00 GMT".into(),
                NOW + 250,
                Some(99_750),
            ),
            ("Tuesday, 14-Nov-23 22:15:00 GMT".into(), NOW, Some(100_000)),
            ("Tue Nov 14 22:15:00 2023".into(), NOW, Some(100_000)),
            ("Tue, 14 Nov 2023 22:13:20 GMT".into(), NOW, Some(0)),
            ("Sun, 06 Nov 1994 08:49:37 GMT".into(), NOW, Some(0)),
            ("Thu, 01 Jan 1970 00:00:00 GMT".into(), u64::MAX, Some(0)),
            (
                "Fri, 31 Dec 9999 23:59:59 GMT".into(),
                NOW,
                Some(MAX_DATE_MS - NOW),
            ),
            ("Fri, 31 Dec 9999 23:59:59 GMT".into(), 0, Some(MAX_DATE_MS)),
        ];
        for (input, now, expected) in cases {
            assert_eq!(parse_retry_after(&input, now), expected, "{input:?}");
        }
    }

    #[test]
    fn retry_after_invalid() {
        let cases: &[&str] = &[
            "",
            " ",
            "\t\t",
            "-5",
            "+5",
            "-0",
            "1.5",
            "1.",
            ".5",
            "1e3",
            "1e309",
            "nan",
            "NaN",
            "inf",
            "Infinity",
            "-Infinity",
            "0x10",
            "5 5",
            "5s",
            "5,6",
            "\u{a0}5",
            "5\u{3000}",
            "\u{661}\u{662}",
            "\u{ff15}",
            "5\u{0}",
            "Sun, 06 Nov 1994 25:00:00 GMT",
            "Wed, 30 Feb 2000 00:00:00 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
        ];
        for input in cases {
            assert_eq!(parse_retry_after(input, NOW), None, "{input:?}");
        }
    }

    #[test]
    fn retry_after_length_limit() {
        let fits = "0".repeat(MAX_VALUE_LEN - 1) + "7";
        assert_eq!(parse_retry_after(&fits, NOW), Some(7_000));
        let too_long = "0".repeat(MAX_VALUE_LEN) + "7";
        assert_eq!(parse_retry_after(&too_long, NOW), None);
        assert_eq!(parse_retry_after(&"1".repeat(5000), NOW), None);
        let padded = format!("{}120", " ".repeat(4997));
        assert_eq!(parse_retry_after(&padded, NOW), None);
    }

    #[test]
    fn retry_after_non_ascii_anywhere_is_rejected() {
        for insert in NON_ASCII {
            for mutated in mutations("120", insert) {
                assert_eq!(parse_retry_after(&mutated, NOW), None, "{mutated:?}");
            }
        }
    }

    // ---- Signals ---------------------------------------------------------------------------

    #[test]
    fn server_wait() {
        let cases: &[(Signals, Option<Millis>)] = &[
            (Signals::default(), None),
            (
                Signals {
                    retry_after_ms: Some(5),
                    ..Signals::default()
                },
                Some(5),
            ),
            (
                Signals {
                    retry_after_ms: Some(5),
                    remaining: Some(0),
                    reset_ms: Some(10),
                    ..Signals::default()
                },
                Some(5),
            ),
            (
                Signals {
                    retry_after_ms: Some(0),
                    remaining: Some(0),
                    reset_ms: Some(10),
                    ..Signals::default()
                },
                Some(0),
            ),
            (
                Signals {
                    remaining: Some(0),
                    reset_ms: Some(10),
                    ..Signals::default()
                },
                Some(10),
            ),
            (
                Signals {
                    remaining: Some(1),
                    reset_ms: Some(10),
                    ..Signals::default()
                },
                None,
            ),
            (
                Signals {
                    remaining: Some(0),
                    ..Signals::default()
                },
                None,
            ),
            (
                Signals {
                    reset_ms: Some(10),
                    ..Signals::default()
                },
                None,
            ),
        ];
        for (signals, expected) in cases {
            assert_eq!(signals.server_wait_ms(), *expected, "{signals:?}");
        }
    }

    #[test]
    fn header_names_cover_every_lookup() {
        for name in HEADER_NAMES {
            assert_eq!(*name, name.to_ascii_lowercase());
        }
        let asked = RefCell::new(Vec::<String>::new());
        let _ = parse_signals(
            |name| {
                asked.borrow_mut().push(name.to_owned());
                None
            },
            NOW,
        );
        let asked = asked.into_inner();
        for name in &asked {
            assert!(
                HEADER_NAMES.contains(&name.as_str()),
                "{name} is read but not listed"
            );
        }
        for name in HEADER_NAMES {
            assert!(
                asked.iter().any(|asked| asked == name),
                "{name} is listed but never read"
            );
        }
    }

    #[test]
    fn signals_table() {
        let none = Signals::default();
        let nines = "9".repeat(400);
        let huge_ratelimit = format!("\"d\";r={nines};t={nines}");
        let huge_policy = format!("\"d\";q={nines};w={nines}");
        // (what, headers, wall clock now, expected)
        type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Millis, Signals);
        let cases: Vec<Case> = vec![
            ("nothing", vec![], NOW, none),
            (
                "retry-after only",
                vec![("retry-after", "30")],
                NOW,
                Signals {
                    retry_after_ms: Some(30_000),
                    ..none
                },
            ),
            (
                "retry-after date",
                vec![("retry-after", "Tue, 14 Nov 2023 22:15:00 GMT")],
                NOW,
                Signals {
                    retry_after_ms: Some(100_000),
                    ..none
                },
            ),
            (
                "draft-07 single item",
                vec![
                    ("ratelimit", "\"default\";r=50;t=30"),
                    ("ratelimit-policy", "\"default\";q=100;w=60"),
                ],
                NOW,
                Signals {
                    remaining: Some(50),
                    reset_ms: Some(30_000),
                    limit: Some(100),
                    window_ms: Some(60_000),
                    ..none
                },
            ),
            (
                "draft-07 token names",
                vec![
                    ("ratelimit", "default;r=50;t=30"),
                    ("ratelimit-policy", "default;q=100;w=60"),
                ],
                NOW,
                Signals {
                    remaining: Some(50),
                    reset_ms: Some(30_000),
                    limit: Some(100),
                    window_ms: Some(60_000),
                    ..none
                },
            ),
            (
                "draft-07 whitespace",
                vec![
                    ("ratelimit", "  \"default\" ; r=50 ;t = 30 , "),
                    ("ratelimit-policy", "\t\"default\";  q=100; w=60\t"),
                ],
                NOW,
                Signals {
                    remaining: Some(50),
                    reset_ms: Some(30_000),
                    limit: Some(100),
                    window_ms: Some(60_000),
                    ..none
                },
            ),
            (
                "draft-07 pk and qu ignored",
                vec![
                    ("ratelimit", "\"default\";r=50;t=30;pk=:cHJvamVjdDEyMw==:"),
                    (
                        "ratelimit-policy",
                        "\"default\";q=100;qu=\"requests\";w=60;pk=:cHJvamVjdDEyMw==:",
                    ),
                ],
                NOW,
                Signals {
                    remaining: Some(50),
                    reset_ms: Some(30_000),
                    limit: Some(100),
                    window_ms: Some(60_000),
                    ..none
                },
            ),
            (
                "draft-07 most restrictive item and its own policy",
                vec![
                    ("ratelimit", "\"burst\";r=5;t=1, \"daily\";r=0;t=3600"),
                    (
                        "ratelimit-policy",
                        "\"burst\";q=10;w=1, \"daily\";q=1000;w=86400",
                    ),
                ],
                NOW,
                Signals {
                    remaining: Some(0),
                    reset_ms: Some(3_600_000),
                    limit: Some(1000),
                    window_ms: Some(86_400_000),
                    ..none
                },
            ),
            (
                "draft-07 policy named as a string, item as a token",
                vec![
                    ("ratelimit", "daily;r=3;t=20, \"burst\";r=9;t=1"),
                    (
                        "ratelimit-policy",
                        "\"burst\";q=10;w=1, \"daily\";q=1000;w=86400",
                    ),
                ],
                NOW,
                Signals {
                    remaining: Some(3),
                    reset_ms: Some(20_000),
                    limit: Some(1000),
                    window_ms: Some(86_400_000),
                    ..none
                },
            ),
            (
                "draft-07 unmatched policy name → smallest quota",
                vec![
                    ("ratelimit", "\"a\";r=7;t=10"),
                    (
                        "ratelimit-policy",
                        "\"x\";q=500;w=60, \"y\";q=50;w=10, \"z\";q=50;w=5",
                    ),
                ],
                NOW,
                Signals {
                    remaining: Some(7),
                    reset_ms: Some(10_000),
                    limit: Some(50),
                    window_ms: Some(10_000),
                    ..none
                },
            ),
            (
                "draft-07 equal remaining → longer reset",
                vec![(
                    "ratelimit",
                    "\"a\";r=3;t=5, \"b\";r=3;t=50, \"c\";r=4;t=500",
                )],
                NOW,
                Signals {
                    remaining: Some(3),
                    reset_ms: Some(50_000),
                    ..none
                },
            ),
            (
                "draft-07 names with separators inside strings",
                vec![
                    ("ratelimit", "\"a,b;c\";r=1;t=2, \"other\";r=9;t=9"),
                    ("ratelimit-policy", "\"other\";q=5;w=5, \"a,b;c\";q=10;w=20"),
                ],
                NOW,
                Signals {
                    remaining: Some(1),
                    reset_ms: Some(2_000),
                    limit: Some(10),
                    window_ms: Some(20_000),
                    ..none
                },
            ),
            (
                "draft-07 comma inside a name does not split the item",
                vec![
                    ("ratelimit", "\"x,y\";r=1;t=2"),
                    ("ratelimit-policy", "\"y\";q=1;w=1, \"x,y\";q=10;w=20"),
                ],
                NOW,
                Signals {
                    remaining: Some(1),
                    reset_ms: Some(2_000),
                    limit: Some(10),
                    window_ms: Some(20_000),
                    ..none
                },
            ),
            (
                "draft-07 ';' inside a name does not start parameters",
                vec![("ratelimit", "\"n;t=9;\";r=2")],
                NOW,
                Signals {
                    remaining: Some(2),
                    ..none
                },
            ),
            (
                "draft-07 inner-list parameters belong to the inner items",
                vec![("ratelimit", "(a;t=9;b);r=3")],
                NOW,
                Signals {
                    remaining: Some(3),
                    ..none
                },
            ),
            (
                "draft-07 duplicate parameter: the last one wins",
                vec![("ratelimit", "\"d\";r=9;t=1;r=2;flag")],
                NOW,
                Signals {
                    remaining: Some(2),
                    reset_ms: Some(1_000),
                    ..none
                },
            ),
            (
                "draft-07 items without r rank last",
                vec![("ratelimit", "\"a\";t=100, \"b\";r=5;t=1")],
                NOW,
                Signals {
                    remaining: Some(5),
                    reset_ms: Some(1_000),
                    ..none
                },
            ),
            (
                "draft-07 a nameless item is still read",
                vec![("ratelimit", ";r=0;t=5, \"d\";r=3;t=1")],
                NOW,
                Signals {
                    remaining: Some(0),
                    reset_ms: Some(5_000),
                    ..none
                },
            ),
            (
                "draft-07 policies without q rank last",
                vec![("ratelimit-policy", "\"x\";w=60, \"y\";q=50;w=10")],
                NOW,
                Signals {
                    limit: Some(50),
                    window_ms: Some(10_000),
                    ..none
                },
            ),
            (
                "stray commas are skipped",
                vec![
                    ("ratelimit-limit", " , ,100;w=60,,"),
                    ("ratelimit-remaining", ",7"),
                ],
                NOW,
                Signals {
                    remaining: Some(7),
                    limit: Some(100),
                    window_ms: Some(60_000),
                    ..none
                },
            ),
            (
                "draft-07 an item with neither r nor t does not pick the policy",
                vec![
                    ("ratelimit", "\"x\";pk=:YQ==:"),
                    ("ratelimit-policy", "\"x\";q=500;w=60, \"y\";q=50;w=10"),
                ],
                NOW,
                Signals {
                    limit: Some(50),
                    window_ms: Some(10_000),
                    ..none
                },
            ),
            (
                "draft-07 a same-named policy without q or w is passed over",
                vec![
                    ("ratelimit", "\"x\";r=1;t=1"),
                    ("ratelimit-policy", "\"x\";qu=\"requests\", \"y\";q=50;w=10"),
                ],
                NOW,
                Signals {
                    remaining: Some(1),
                    reset_ms: Some(1_000),
                    limit: Some(50),
                    window_ms: Some(10_000),
                    ..none
                },
            ),
            (
                "draft-07 escaped quote inside a name",
                vec![
                    ("ratelimit", "\"a\\\",b\";r=4;t=1"),
                    ("ratelimit-policy", "\"b\";q=1;w=1, \"a\\\",b\";q=10;w=20"),
                ],
                NOW,
                Signals {
                    remaining: Some(4),
                    reset_ms: Some(1_000),
                    limit: Some(10),
                    window_ms: Some(20_000),
                    ..none
                },
            ),
            (
                "draft-07 '=' inside a quoted name is not a dictionary entry",
                vec![
                    ("ratelimit", "\"limit=1\";r=6;t=3"),
                    ("ratelimit-policy", "\"x\";q=3;w=1, \"limit=1\";q=10;w=5"),
                ],
                NOW,
                Signals {
                    remaining: Some(6),
                    reset_ms: Some(3_000),
                    limit: Some(10),
                    window_ms: Some(5_000),
                    ..none
                },
            ),
            (
                "draft-07 fractional t rounds up",
                vec![("ratelimit", "\"d\";r=1;t=1.0001")],
                NOW,
                Signals {
                    remaining: Some(1),
                    reset_ms: Some(1_001),
                    ..none
                },
            ),
            (
                "draft-07 t is never an epoch",
                vec![("ratelimit", "\"d\";r=0;t=1700000060")],
                NOW,
                Signals {
                    remaining: Some(0),
                    reset_ms: Some(1_700_000_060_000),
                    ..none
                },
            ),
            (
                "draft-07 policy only",
                vec![("ratelimit-policy", "\"d\";q=100;w=60")],
                NOW,
                Signals {
                    limit: Some(100),
                    window_ms: Some(60_000),
                    ..none
                },
            ),
            (
                "older policy form with bare quota",
                vec![("ratelimit-policy", "100;w=60, 10;w=1")],
                NOW,
                Signals {
                    limit: Some(10),
                    window_ms: Some(1_000),
                    ..none
                },
            ),
            (
                "draft-06 dictionary",
                vec![("ratelimit", "limit=100, remaining=50, reset=30")],
                NOW,
                Signals {
                    remaining: Some(50),
                    reset_ms: Some(30_000),
                    limit: Some(100),
                    ..none
                },
            ),
            (
                "draft-06 dictionary, any order and case, with w",
                vec![("ratelimit", "Reset = 7 ,REMAINING=0, limit=10;w=60")],
                NOW,
                Signals {
                    remaining: Some(0),
                    reset_ms: Some(7_000),
                    limit: Some(10),
                    window_ms: Some(60_000),
                    ..none
                },
            ),
            (
                "older separate fields",
                vec![
                    ("ratelimit-limit", "100"),
                    ("ratelimit-remaining", "50"),
                    ("ratelimit-reset", "30"),
                ],
                NOW,
                Signals {
                    remaining: Some(50),
                    reset_ms: Some(30_000),
                    limit: Some(100),
                    ..none
                },
            ),
            (
                "older limit with policy",
                vec![("ratelimit-limit", "100, 100;w=60")],
                NOW,
                Signals {
                    limit: Some(100),
                    window_ms: Some(60_000),
                    ..none
                },
            ),
            (
                "older limit with several policies: the first number's window",
                vec![("ratelimit-limit", "10, 10;w=1, 50;w=60")],
                NOW,
                Signals {
                    limit: Some(10),
                    window_ms: Some(1_000),
                    ..none
                },
            ),
            (
                "older limit whose window belongs to another quota",
                vec![("ratelimit-limit", "50, 10;w=1")],
                NOW,
                Signals {
                    limit: Some(50),
                    ..none
                },
            ),
            (
                "older reset sent as epoch seconds (GitLab)",
                vec![
                    ("ratelimit-remaining", "0"),
                    ("ratelimit-reset", "1700000045"),
                ],
                NOW,
                Signals {
                    remaining: Some(0),
                    reset_ms: Some(45_000),
                    ..none
                },
            ),
            (
                "x-ratelimit delay seconds",
                vec![
                    ("x-ratelimit-limit", "60"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "30"),
                ],
                NOW,
                Signals {
                    remaining: Some(0),
                    reset_ms: Some(30_000),
                    limit: Some(60),
                    ..none
                },
            ),
            (
                "x-ratelimit epoch seconds (GitHub)",
                vec![
                    ("x-ratelimit-limit", "5000"),
                    ("x-ratelimit-remaining", "4999"),
                    ("x-ratelimit-reset", "1700000060"),
                ],
                NOW,
                Signals {
                    remaining: Some(4999),
                    reset_ms: Some(60_000),
                    limit: Some(5000),
                    ..none
                },
            ),
            (
                "x-ratelimit epoch milliseconds",
                vec![("x-ratelimit-reset", "1700000060000")],
                NOW,
                Signals {
                    reset_ms: Some(60_000),
                    ..none
                },
            ),
            (
                "x-ratelimit epoch seconds in the past",
                vec![("x-ratelimit-reset", "1000000000")],
                NOW,
                Signals {
                    reset_ms: Some(0),
                    ..none
                },
            ),
            (
                "x-ratelimit epoch milliseconds in the past",
                vec![("x-ratelimit-reset", "1000000000000")],
                NOW,
                Signals {
                    reset_ms: Some(0),
                    ..none
                },
            ),
            (
                "x-ratelimit largest delay-seconds",
                vec![("x-ratelimit-reset", "999999999")],
                NOW,
                Signals {
                    reset_ms: Some(999_999_999_000),
                    ..none
                },
            ),
            (
                "x-ratelimit fractional delay",
                vec![("x-ratelimit-reset", "1.5")],
                NOW,
                Signals {
                    reset_ms: Some(1_500),
                    ..none
                },
            ),
            (
                "x-ratelimit tiny fraction rounds up",
                vec![("x-ratelimit-reset", "0.0001")],
                NOW,
                Signals {
                    reset_ms: Some(1),
                    ..none
                },
            ),
            (
                "x-ratelimit fraction with trailing zeros",
                vec![("x-ratelimit-reset", "2.25000000")],
                NOW,
                Signals {
                    reset_ms: Some(2_250),
                    ..none
                },
            ),
            (
                "x-ratelimit fractional epoch seconds round up",
                vec![("x-ratelimit-reset", "1700000000.0015")],
                NOW,
                Signals {
                    reset_ms: Some(2),
                    ..none
                },
            ),
            (
                "x-ratelimit fractional epoch milliseconds round up",
                vec![("x-ratelimit-reset", "1700000000000.5")],
                NOW,
                Signals {
                    reset_ms: Some(1),
                    ..none
                },
            ),
            (
                "IETF wins over X",
                vec![
                    ("ratelimit", "\"d\";r=5;t=10"),
                    ("ratelimit-policy", "\"d\";q=20;w=60"),
                    ("x-ratelimit-limit", "1000"),
                    ("x-ratelimit-remaining", "999"),
                    ("x-ratelimit-reset", "1700000600"),
                ],
                NOW,
                Signals {
                    remaining: Some(5),
                    reset_ms: Some(10_000),
                    limit: Some(20),
                    window_ms: Some(60_000),
                    ..none
                },
            ),
            (
                "older IETF wins over X",
                vec![
                    ("ratelimit-limit", "20"),
                    ("ratelimit-remaining", "5"),
                    ("ratelimit-reset", "10"),
                    ("x-ratelimit-limit", "1000"),
                    ("x-ratelimit-remaining", "999"),
                    ("x-ratelimit-reset", "600"),
                ],
                NOW,
                Signals {
                    remaining: Some(5),
                    reset_ms: Some(10_000),
                    limit: Some(20),
                    ..none
                },
            ),
            (
                "structured wins over older separate fields",
                vec![
                    ("ratelimit", "\"d\";r=5;t=10"),
                    ("ratelimit-remaining", "50"),
                    ("ratelimit-reset", "100"),
                ],
                NOW,
                Signals {
                    remaining: Some(5),
                    reset_ms: Some(10_000),
                    ..none
                },
            ),
            (
                "missing IETF fields fall back per field",
                vec![
                    ("retry-after", "3"),
                    ("ratelimit", "\"d\";r=0;t=10"),
                    ("x-ratelimit-limit", "1000"),
                    ("x-ratelimit-remaining", "999"),
                ],
                NOW,
                Signals {
                    retry_after_ms: Some(3_000),
                    remaining: Some(0),
                    reset_ms: Some(10_000),
                    limit: Some(1000),
                    ..none
                },
            ),
            (
                "bad IETF values fall back to X",
                vec![
                    ("ratelimit-remaining", "NaN"),
                    ("ratelimit-reset", "-5"),
                    ("x-ratelimit-remaining", "4"),
                    ("x-ratelimit-reset", "6"),
                ],
                NOW,
                Signals {
                    remaining: Some(4),
                    reset_ms: Some(6_000),
                    ..none
                },
            ),
            (
                "hostile huge numbers saturate",
                vec![
                    ("ratelimit", &huge_ratelimit),
                    ("ratelimit-policy", &huge_policy),
                    ("retry-after", &nines),
                ],
                NOW,
                Signals {
                    retry_after_ms: Some(u64::MAX),
                    remaining: Some(u64::MAX),
                    reset_ms: Some(u64::MAX),
                    limit: Some(u64::MAX),
                    window_ms: Some(u64::MAX),
                },
            ),
            (
                "hostile huge X numbers saturate (reset reads as a far epoch)",
                vec![
                    ("x-ratelimit-limit", &nines),
                    ("x-ratelimit-remaining", "18446744073709551616"),
                    ("x-ratelimit-reset", &nines),
                ],
                NOW,
                Signals {
                    remaining: Some(u64::MAX),
                    reset_ms: Some(u64::MAX - NOW),
                    limit: Some(u64::MAX),
                    ..none
                },
            ),
            (
                "negative and non-numeric values are ignored",
                vec![
                    ("ratelimit", "\"d\";r=-5;t=30, \"e\";r=nan;t=inf"),
                    ("ratelimit-policy", "\"d\";q=-1;w=1e309"),
                    ("retry-after", "+5"),
                    ("x-ratelimit-limit", "Infinity"),
                    ("x-ratelimit-remaining", "-1"),
                    ("x-ratelimit-reset", "-30"),
                ],
                NOW,
                Signals {
                    reset_ms: Some(30_000),
                    ..none
                },
            ),
            (
                "empty and whitespace-only values",
                vec![
                    ("retry-after", ""),
                    ("ratelimit", " "),
                    ("ratelimit-policy", ""),
                    ("ratelimit-limit", "\t"),
                    ("ratelimit-remaining", ""),
                    ("ratelimit-reset", "   "),
                    ("x-ratelimit-limit", ""),
                    ("x-ratelimit-remaining", " \t "),
                    ("x-ratelimit-reset", ""),
                ],
                NOW,
                none,
            ),
            (
                "x-ratelimit reset garbage",
                vec![("x-ratelimit-reset", "1e309")],
                NOW,
                none,
            ),
        ];
        for (name, headers, now, expected) in cases {
            assert_eq!(run(&headers, now), expected, "{name}");
        }
    }

    #[test]
    fn x_reset_garbage_is_ignored() {
        for value in [
            "-5", "+5", "nan", "NaN", "inf", "Infinity", "1e309", "1e3", "", "   ", "1.", ".5",
            "1..5", "1.5.5", "0x1F", "\u{661}", "5\u{a0}", "1.5e0", ",", " , ,",
        ] {
            let got = run(
                &[("x-ratelimit-reset", value), ("ratelimit-reset", value)],
                NOW,
            );
            assert_eq!(got.reset_ms, None, "{value:?}");
        }
    }

    #[test]
    fn joined_duplicate_headers_read_most_restrictively() {
        let cases: &[(&str, &str, Signals)] = &[
            (
                "x-ratelimit-reset",
                "30, 30",
                Signals {
                    reset_ms: Some(30_000),
                    ..Signals::default()
                },
            ),
            (
                "x-ratelimit-reset",
                "10, 20",
                Signals {
                    reset_ms: Some(20_000),
                    ..Signals::default()
                },
            ),
            (
                "x-ratelimit-reset",
                "1,5",
                Signals {
                    reset_ms: Some(5_000),
                    ..Signals::default()
                },
            ),
            (
                "x-ratelimit-reset",
                "nan, 7",
                Signals {
                    reset_ms: Some(7_000),
                    ..Signals::default()
                },
            ),
            (
                "ratelimit-reset",
                "20, 1700000045",
                Signals {
                    reset_ms: Some(45_000),
                    ..Signals::default()
                },
            ),
            (
                "x-ratelimit-remaining",
                "5, 3",
                Signals {
                    remaining: Some(3),
                    ..Signals::default()
                },
            ),
            (
                "ratelimit-remaining",
                "3, 5, -1",
                Signals {
                    remaining: Some(3),
                    ..Signals::default()
                },
            ),
            (
                "ratelimit-limit",
                "100, 50",
                Signals {
                    limit: Some(100),
                    ..Signals::default()
                },
            ),
        ];
        for (name, value, expected) in cases {
            assert_eq!(run(&[(name, value)], NOW), *expected, "{name}: {value}");
        }
    }

    #[test]
    fn overlong_values_are_ignored() {
        let pad = " ".repeat(5000);
        let headers: Vec<(&str, String)> = vec![
            ("retry-after", format!("30{pad}")),
            ("ratelimit", format!("\"d\";r=1;t=2{pad}")),
            ("ratelimit-policy", format!("\"d\";q=3;w=4{pad}")),
            ("ratelimit-limit", format!("{}5", "0".repeat(5000))),
            ("ratelimit-remaining", format!("{pad}6")),
            ("ratelimit-reset", format!("7{pad}")),
        ];
        assert_eq!(run_owned(&headers, NOW), Signals::default());

        // The X family still answers when the IETF values were too long to read.
        let mut with_x = headers.clone();
        with_x.push(("x-ratelimit-limit", "8".into()));
        with_x.push(("x-ratelimit-remaining", "9".into()));
        with_x.push(("x-ratelimit-reset", "10".into()));
        assert_eq!(
            run_owned(&with_x, NOW),
            Signals {
                remaining: Some(9),
                reset_ms: Some(10_000),
                limit: Some(8),
                ..Signals::default()
            }
        );

        // Exactly at the limit is still read.
        let fits = format!("{}{}", "0".repeat(MAX_VALUE_LEN - 2), "42");
        assert_eq!(fits.len(), MAX_VALUE_LEN);
        assert_eq!(
            run_owned(&[("x-ratelimit-remaining", fits.clone())], NOW).remaining,
            Some(42)
        );
        let over = format!("0{fits}");
        assert_eq!(
            run_owned(&[("x-ratelimit-remaining", over)], NOW).remaining,
            None
        );
    }

    #[test]
    fn non_ascii_anywhere_never_invents_values() {
        let families: &[&[(&str, &str)]] = &[
            &[
                ("ratelimit", "\"default\";r=50;t=30"),
                ("ratelimit-policy", "\"default\";q=100;w=60"),
            ],
            &[("ratelimit", "limit=100, remaining=50, reset=30")],
            &[
                ("ratelimit-limit", "100, 100;w=60"),
                ("ratelimit-remaining", "50"),
                ("ratelimit-reset", "30"),
            ],
            &[
                ("x-ratelimit-limit", "100"),
                ("x-ratelimit-remaining", "50"),
                ("x-ratelimit-reset", "30"),
            ],
            &[("retry-after", "30")],
        ];
        for family in families {
            let clean = run(family, NOW);
            assert_ne!(clean, Signals::default());
            for (index, (name, value)) in family.iter().enumerate() {
                let mut changed_something = false;
                for insert in NON_ASCII {
                    for mutated in mutations(value, insert) {
                        let mut headers: Vec<(&str, String)> =
                            family.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
                        headers[index].1 = mutated.clone();
                        let got = run_owned(&headers, NOW);
                        let fields = [
                            (got.retry_after_ms, clean.retry_after_ms),
                            (got.remaining, clean.remaining),
                            (got.reset_ms, clean.reset_ms),
                            (got.limit, clean.limit),
                            (got.window_ms, clean.window_ms),
                        ];
                        for (got_field, clean_field) in fields {
                            assert!(
                                got_field.is_none() || got_field == clean_field,
                                "{name}: {mutated:?} gave {got:?}"
                            );
                        }
                        changed_something |= got != clean;
                    }
                }
                assert!(
                    changed_something,
                    "{name}: no mutation of {value:?} mattered"
                );
            }
        }
    }

    // ---- Properties ------------------------------------------------------------------------

    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const LONG_DAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];

    /// Broken-down UTC time by walking years and months, deliberately unlike the closed form
    /// under test: (year, month 0-based, day, hour, minute, second, weekday 0 = Sunday).
    fn civil(epoch_seconds: u64) -> (u64, usize, u64, u64, u64, u64, usize) {
        let mut days = epoch_seconds / 86_400;
        let rest = epoch_seconds % 86_400;
        let weekday = ((days + 4) % 7) as usize; // 1970-01-01 was a Thursday.
        let leap = |y: u64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let mut year = 1970;
        loop {
            let length = if leap(year) { 366 } else { 365 };
            if days < length {
                break;
            }
            days -= length;
            year += 1;
        }
        let lengths = [
            31,
            if leap(year) { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        let mut month = 0;
        while days >= lengths[month] {
            days -= lengths[month];
            month += 1;
        }
        (
            year,
            month,
            days + 1,
            rest / 3600,
            rest % 3600 / 60,
            rest % 60,
            weekday,
        )
    }

    fn imf_fixdate(epoch_seconds: u64) -> String {
        let (y, mo, d, h, mi, s, wd) = civil(epoch_seconds);
        format!(
            "{}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} GMT",
            DAYS[wd], MONTHS[mo]
        )
    }

    fn asctime(epoch_seconds: u64) -> String {
        let (y, mo, d, h, mi, s, wd) = civil(epoch_seconds);
        format!(
            "{} {} {d:>2} {h:02}:{mi:02}:{s:02} {y:04}",
            DAYS[wd], MONTHS[mo]
        )
    }

    fn rfc850(epoch_seconds: u64) -> String {
        let (y, mo, d, h, mi, s, wd) = civil(epoch_seconds);
        format!(
            "{}, {d:02}-{}-{:02} {h:02}:{mi:02}:{s:02} GMT",
            LONG_DAYS[wd],
            MONTHS[mo],
            y % 100
        )
    }

    #[test]
    fn formatter_matches_known_dates() {
        // Guards the test formatter itself, so the round-trip property cannot pass vacuously.
        assert_eq!(imf_fixdate(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(imf_fixdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            imf_fixdate(253_402_300_799),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
        assert_eq!(imf_fixdate(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(asctime(784_111_777), "Sun Nov  6 08:49:37 1994");
        assert_eq!(rfc850(784_111_777), "Sunday, 06-Nov-94 08:49:37 GMT");
    }

    /// Strings that look enough like our inputs to reach the deeper branches.
    fn header_like() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[ \t,;=:\"()\\\\.+\\-0-9a-zA-Z\u{a0}é€😀]{0,64}",
            concat!(
                "(Sun|Monday|Nov|Feb|GMT|[0-9]{1,5}|[ ,:-]|r=|t=|q=|w=|limit=|reset=|",
                "\"d\"|;|,|\\.|9{20,40}){0,16}"
            ),
        ]
    }

    proptest! {
        #[test]
        fn parsers_never_panic(value in header_like(), now in any::<u64>()) {
            if let Some(at) = parse_http_date(&value) {
                prop_assert!(at <= MAX_DATE_MS);
                prop_assert_eq!(at % 1000, 0);
            }
            let is_seconds = {
                let trimmed = value.trim_matches(|c: char| c.is_ascii_whitespace());
                !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit())
            };
            if let Some(delay) = parse_retry_after(&value, now) {
                prop_assert!(is_seconds || delay <= MAX_DATE_MS);
            } else {
                prop_assert!(!is_seconds || value.len() > MAX_VALUE_LEN);
            }
            let same_everywhere = parse_signals(|_| Some(value.as_str()), now);
            prop_assert_eq!(same_everywhere.retry_after_ms, parse_retry_after(&value, now));
        }

        #[test]
        fn signals_never_panic(
            values in proptest::collection::vec(header_like(), HEADER_NAMES.len()),
            now in any::<u64>(),
        ) {
            let got = parse_signals(
                |name| {
                    let index = HEADER_NAMES.iter().position(|n| *n == name)?;
                    values.get(index).map(String::as_str)
                },
                now,
            );
            if got.retry_after_ms.is_none() && got.remaining != Some(0) {
                prop_assert_eq!(got.server_wait_ms(), None);
            }
        }

        #[test]
        fn imf_fixdate_round_trips(seconds in 0u64..=253_402_300_799) {
            let text = imf_fixdate(seconds);
            prop_assert_eq!(parse_http_date(&text), Some(seconds * 1000), "{}", text);
        }

        #[test]
        fn asctime_round_trips(seconds in 0u64..=253_402_300_799) {
            let text = asctime(seconds);
            prop_assert_eq!(parse_http_date(&text), Some(seconds * 1000), "{}", text);
        }

        #[test]
        fn rfc850_round_trips_within_its_window(seconds in 0u64..3_155_760_000) {
            let text = rfc850(seconds);
            prop_assert_eq!(parse_http_date(&text), Some(seconds * 1000), "{}", text);
        }

        #[test]
        fn retry_after_seconds_saturate(seconds in any::<u64>(), now in any::<u64>()) {
            let expected = Some(seconds.saturating_mul(1000));
            prop_assert_eq!(parse_retry_after(&seconds.to_string(), now), expected);
        }

        #[test]
        fn x_reset_classification(value in any::<u64>(), now in any::<u64>()) {
            let expected = if value >= 1_000_000_000_000 {
                value.saturating_sub(now)
            } else if value >= 1_000_000_000 {
                (value * 1000).saturating_sub(now)
            } else {
                value * 1000
            };
            let got = run_owned(&[("x-ratelimit-reset", value.to_string())], now);
            prop_assert_eq!(got.reset_ms, Some(expected));
        }
    }
}
