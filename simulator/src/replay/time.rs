//! Timestamps found in recorded trade files, to UNIX nanoseconds: epoch integers in
//! s/ms/us/ns (told apart by magnitude), decimal epoch seconds, and ISO 8601 / RFC 3339
//! date-times (UTC unless an offset is given).

/// Parses one timestamp; `None` when it is not one of the supported forms.
pub(crate) fn parse_timestamp(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return epoch_integer(text.parse().ok()?);
    }
    if let Some((secs, frac)) = text.split_once('.') {
        if !secs.is_empty() && secs.bytes().all(|b| b.is_ascii_digit()) {
            return epoch_seconds(secs, frac);
        }
    }
    iso8601(text)
}

/// Integers: below 1e11 seconds, below 1e14 milliseconds, below 1e17 microseconds,
/// otherwise nanoseconds.
fn epoch_integer(v: u64) -> Option<u64> {
    match v {
        0..100_000_000_000 => v.checked_mul(1_000_000_000),
        100_000_000_000..100_000_000_000_000 => v.checked_mul(1_000_000),
        100_000_000_000_000..100_000_000_000_000_000 => v.checked_mul(1_000),
        _ => Some(v),
    }
}

/// `SECS.FRACTION` exactly (no float rounding), to nanoseconds.
fn epoch_seconds(secs: &str, frac: &str) -> Option<u64> {
    let secs: u64 = secs.parse().ok()?;
    secs.checked_mul(1_000_000_000)?
        .checked_add(fraction_ns(frac)?)
}

/// Digits after a decimal point as nanoseconds (beyond nine digits are truncated).
fn fraction_ns(frac: &str) -> Option<u64> {
    if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = &frac[..frac.len().min(9)];
    let value: u64 = digits.parse().ok()?;
    Some(value * 10u64.pow(9 - digits.len() as u32))
}

/// `YYYY-MM-DD[T| ]HH:MM[:SS[.fff]][Z|+HH:MM|-HH:MM]`, or a bare date (midnight UTC).
fn iso8601(text: &str) -> Option<u64> {
    let (date, rest) = match text.find(['T', 't', ' ']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let mut secs = days * 86_400;
    let mut nanos = 0;
    if let Some(rest) = rest {
        let (clock, offset_s) = split_offset(rest.trim())?;
        let (hms, frac) = match clock.split_once(['.', ',']) {
            Some((hms, frac)) => (hms, Some(frac)),
            None => (clock, None),
        };
        let mut fields = hms.split(':');
        let h: i64 = fields.next()?.parse().ok()?;
        let m: i64 = fields.next()?.parse().ok()?;
        let s: i64 = fields.next().map_or(Some(0), |s| s.parse().ok())?;
        if fields.next().is_some() || h > 23 || m > 59 || s > 60 {
            return None;
        }
        secs += h * 3600 + m * 60 + s - offset_s;
        if let Some(frac) = frac {
            nanos = fraction_ns(frac)?;
        }
    }
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(nanos)
}

/// Splits a trailing `Z` or `±HH:MM` / `±HHMM` offset off a clock time; returns the
/// offset in seconds east of UTC.
fn split_offset(clock: &str) -> Option<(&str, i64)> {
    if let Some(c) = clock.strip_suffix(['Z', 'z']) {
        return Some((c, 0));
    }
    let Some(i) = clock.rfind(['+', '-']) else {
        return Some((clock, 0));
    };
    let (c, offset) = clock.split_at(i);
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let digits: String = offset[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i64 = digits[..2].parse().ok()?;
    let m: i64 = digits[2..].parse().ok()?;
    Some((c, sign * (h * 3600 + m * 60)))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_timestamp as p;

    const T: u64 = 1_704_205_800_000_000_000; // 2024-01-02T14:30:00Z

    #[test]
    fn epoch_numbers_in_any_unit() {
        assert_eq!(p("1704205800"), Some(T));
        assert_eq!(p("1704205800000"), Some(T));
        assert_eq!(p("1704205800000000"), Some(T));
        assert_eq!(p("1704205800000000000"), Some(T));
        assert_eq!(p("1704205800.5"), Some(T + 500_000_000));
        assert_eq!(p("1704205800.123456789123"), Some(T + 123_456_789));
    }

    #[test]
    fn iso_8601_date_times() {
        assert_eq!(p("2024-01-02T14:30:00Z"), Some(T));
        assert_eq!(p("2024-01-02 14:30:00"), Some(T));
        assert_eq!(p("2024-01-02T14:30"), Some(T));
        assert_eq!(p("2024-01-02T14:30:00.25Z"), Some(T + 250_000_000));
        assert_eq!(p("2024-01-02T09:30:00-05:00"), Some(T));
        assert_eq!(p("2024-01-02T15:30:00+0100"), Some(T));
        assert_eq!(p("1970-01-01"), Some(0));
        assert_eq!(p("2000-03-01"), Some(951_868_800_000_000_000));
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            "",
            "timestamp",
            "2024-13-01",
            "2024-01-02T25:00",
            "12:30",
            "1.2.3",
            "-5",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }
}
