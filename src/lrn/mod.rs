//! Number portability (SPEC.md §2–§3, DESIGN.md §4): the shared-memory
//! cache, the `file` source and the `sip-redirect` dip.

pub mod cache;
pub mod dip;
pub mod file;

/// The 10-digit NANP number of a routed number: 10 digits, or 11 starting
/// with the country code 1 (RFC 3966 separators and `+` already removed or
/// tolerated). NPA and NXX must start with 2–9.
pub fn nanp_tn(number: &str) -> Option<u64> {
    let digits: Vec<u8> = number.bytes().filter(|b| !matches!(b, b'+' | b'-' | b'.' | b'(' | b')')).collect();
    let ten = match digits.len() {
        10 => &digits[..],
        11 if digits[0] == b'1' => &digits[1..],
        _ => return None,
    };
    file::nanp(ten)
}

#[cfg(test)]
mod tests {
    use super::nanp_tn;

    #[test]
    fn nanp_numbers() {
        assert_eq!(nanp_tn("12125551212"), Some(2125551212));
        assert_eq!(nanp_tn("2125551212"), Some(2125551212));
        assert_eq!(nanp_tn("+1-310-555-0000"), Some(3105550000));
        assert_eq!(nanp_tn("11125551212"), None, "NPA starting with 1");
        assert_eq!(nanp_tn("442079460000"), None);
        assert_eq!(nanp_tn("22125551212"), None);
    }
}
