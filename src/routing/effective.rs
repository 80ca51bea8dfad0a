//! RFC 3339 dates and date-times for deck `effective` columns and for
//! `tandem route --at`, as Unix seconds. Small on purpose: tandem needs
//! parsing and ordering, not a calendar library.

/// Parses `YYYY-MM-DD` (midnight UTC) or `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub fn parse(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let date = days_from_civil(year, month, day) * 86_400;
    if b.len() == 10 {
        return Some(date);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 20 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, m, sec) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let offset = zone(&b[19..])?;
    Some(date + h * 3600 + m * 60 + sec.min(59) - offset)
}

/// The zone suffix after seconds (fractions skipped), as seconds east of UTC.
fn zone(mut b: &[u8]) -> Option<i64> {
    if let Some(rest) = b.strip_prefix(b".") {
        let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        b = &rest[digits..];
    }
    match b {
        [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (num(&[*h1, *h2])?, num(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 3600 + m * 60;
            Some(if *sign == b'-' { -off } else { off })
        }
        _ => None,
    }
}

fn num(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |n, &c| c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0')))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn dates_and_times() {
        assert_eq!(parse("1970-01-01"), Some(0));
        assert_eq!(parse("2026-11-24"), Some(1_795_478_400));
        assert_eq!(parse("2026-11-24T00:00:00Z"), Some(1_795_478_400));
        assert_eq!(parse("2026-11-24T01:30:00+01:30"), Some(1_795_478_400));
        assert_eq!(parse("2026-11-23T19:00:00.250-05:00"), Some(1_795_478_400));
        assert_eq!(parse("2024-02-29"), Some(1_709_164_800));
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "2026-13-01",
            "2026-02-29",
            "2026-11-24T25:00:00Z",
            "2026-11-24T10:00:00",
            "24/11/2026",
            "2026-11-24T10:00Z",
            "2026-11-24T10:00:00+0100",
            "2026-1-24",
            "2026-11-24T10:00:00.Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
