//! Rates as fixed-point integers: a carrier's margin is a tenth of a cent
//! per minute, so comparisons and sums must be exact, not floating point.

use std::fmt;

/// Nano-units of currency per minute (1 unit = 1_000_000_000).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(pub i64);

/// Decimal places a rate may carry.
pub const DECIMALS: u32 = 9;
const SCALE: i64 = 1_000_000_000;

/// Why a rate text is not a rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// Not `digits[.digits]`.
    #[error("not a decimal number")]
    NotDecimal,
    /// More than nine decimal places.
    #[error("more than 9 decimal places")]
    TooPrecise,
    /// Larger than tandem can hold.
    #[error("too large")]
    TooLarge,
}

impl Rate {
    /// Zero.
    pub const ZERO: Rate = Rate(0);

    /// Parses `12`, `0.0048`, `.5`, `-0.001` exactly.
    pub fn parse(s: &str) -> Result<Rate, RateError> {
        let (neg, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
            return Err(RateError::NotDecimal);
        }
        if frac.len() > DECIMALS as usize {
            return Err(RateError::TooPrecise);
        }
        let int: i64 = if int.is_empty() { 0 } else { int.parse().map_err(|_| RateError::TooLarge)? };
        let frac_val: i64 =
            if frac.is_empty() { 0 } else { frac.parse().map_err(|_| RateError::NotDecimal)? };
        let frac_scaled = frac_val * 10i64.pow(DECIMALS - frac.len() as u32);
        let v = int.checked_mul(SCALE).and_then(|v| v.checked_add(frac_scaled)).ok_or(RateError::TooLarge)?;
        Ok(Rate(if neg { -v } else { v }))
    }

    /// From a configuration float, rounded to the nearest nano-unit.
    pub fn from_f64(v: f64) -> Option<Rate> {
        let scaled = (v * SCALE as f64).round();
        (scaled.is_finite() && scaled.abs() < i64::MAX as f64).then_some(Rate(scaled as i64))
    }

    /// As a float, for JSON output.
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / SCALE as f64
    }
}

impl std::ops::Sub for Rate {
    type Output = Rate;
    fn sub(self, rhs: Rate) -> Rate {
        Rate(self.0.saturating_sub(rhs.0))
    }
}

impl fmt::Display for Rate {
    /// Shortest exact decimal: `0.0048`, `12`, `-0.001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (int, frac) = (abs / SCALE as u64, abs % SCALE as u64);
        if frac == 0 {
            return write!(f, "{sign}{int}");
        }
        // Nine digits, zero-padded, on the stack (a CDR row writes several rates).
        let mut digits = [b'0'; 9];
        let mut rest = frac;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        let digits = std::str::from_utf8(&digits).map_err(|_| fmt::Error)?;
        write!(f, "{sign}{int}.{}", digits.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        for (s, v, back) in [
            ("0.0048", 4_800_000, "0.0048"),
            ("12", 12 * SCALE, "12"),
            (".5", SCALE / 2, "0.5"),
            ("-0.001", -1_000_000, "-0.001"),
            ("0.000000001", 1, "0.000000001"),
            ("1.10", 1_100_000_000, "1.1"),
        ] {
            let r = Rate::parse(s).unwrap();
            assert_eq!(r.0, v, "{s}");
            assert_eq!(r.to_string(), back);
        }
        assert_eq!(Rate::parse("0.0000000001"), Err(RateError::TooPrecise));
        for bad in ["", ".", "1e3", "abc", "1.2.3", "+1", " 1"] {
            assert_eq!(Rate::parse(bad), Err(RateError::NotDecimal), "{bad}");
        }
        assert_eq!(Rate::parse("99999999999999"), Err(RateError::TooLarge));
        assert_eq!(Rate::from_f64(0.05), Some(Rate(50_000_000)));
        assert_eq!(Rate::parse("0.0050").unwrap() - Rate::parse("0.0048").unwrap(), Rate(200_000));
    }
}
