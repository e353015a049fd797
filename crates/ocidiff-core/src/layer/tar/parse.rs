//! Field parsers with the exact acceptance rules of Go's `strconv` and `archive/tar`: where a
//! Rust parser is more liberal (a leading `+` in an octal field, say), a header would read
//! differently here than in the runtime.

/// Go's `strconv.ParseUint(s, 8, 64)`: octal digits only, no sign, no prefix.
fn parse_uint_octal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut x: u64 = 0;
    for &c in s {
        let d = match c {
            b'0'..=b'7' => u64::from(c - b'0'),
            _ => return None,
        };
        x = x.checked_mul(8)?.checked_add(d)?;
    }
    Some(x)
}

/// Go's `strconv.ParseInt(s, 10, 64)`: an optional sign, then decimal digits.
pub(crate) fn parse_int(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s.first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut x: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        x = x.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        match x {
            0..=0x7fff_ffff_ffff_ffff => Some(-i64::try_from(x).ok()?),
            0x8000_0000_0000_0000 => Some(i64::MIN),
            _ => None,
        }
    } else {
        i64::try_from(x).ok()
    }
}

/// A NUL-terminated string field: everything before the first NUL.
pub(crate) fn c_string(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// Reads numeric header fields, remembering whether any failed, as Go's `parser` does: a
/// header is refused only once all its fields have been read.
#[derive(Default)]
pub(crate) struct Numbers {
    pub(crate) failed: bool,
}

impl Numbers {
    /// An octal field, padded with spaces or NULs on either side.
    // Wrapping on purpose, as Go's `int64(x)` of the parsed uint64.
    #[allow(clippy::cast_possible_wrap)]
    pub(crate) fn octal(&mut self, b: &[u8]) -> i64 {
        let start = b.iter().position(|&c| c != b' ' && c != 0);
        let Some(start) = start else { return 0 };
        let end = b
            .iter()
            .rposition(|&c| c != b' ' && c != 0)
            .map_or(0, |e| e + 1);
        if let Some(x) = parse_uint_octal(c_string(&b[start..end])) {
            x as i64
        } else {
            self.failed = true;
            0
        }
    }

    /// An octal field, or a base-256 one (GNU) when its first bit is set: big-endian two's
    /// complement over the rest of the field.
    pub(crate) fn numeric(&mut self, b: &[u8]) -> i64 {
        let Some(&first) = b.first() else { return 0 };
        if first & 0x80 == 0 {
            return self.octal(b);
        }
        let inv = if first & 0x40 != 0 { 0xff } else { 0 };
        let mut x: u64 = 0;
        for (i, &c) in b.iter().enumerate() {
            let mut c = c ^ inv;
            if i == 0 {
                c &= 0x7f;
            }
            if x >> 56 > 0 {
                self.failed = true;
                return 0;
            }
            x = x << 8 | u64::from(c);
        }
        if x >> 63 > 0 {
            self.failed = true;
            return 0;
        }
        // x < 2^63 (checked just above): the casts cannot wrap.
        #[allow(clippy::cast_possible_wrap)]
        let x = x as i64;
        if inv == 0xff { !x } else { x }
    }
}

/// A time as Go's `time.Unix(secs, nanos)` holds it: nanoseconds normalised into `0..1e9`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time {
    /// Seconds since the Unix epoch; negative before 1970.
    pub secs: i64,
    /// Nanoseconds past `secs`, always below 1e9.
    pub nanos: u32,
}

impl Time {
    /// Go's zero `time.Time` (the year 1), which Go's reader leaves in fields it did not set.
    pub const GO_ZERO: Time = Time {
        secs: -62_135_596_800,
        nanos: 0,
    };

    pub(crate) fn unix(secs: i64, nanos: i64) -> Time {
        let carry = nanos.div_euclid(1_000_000_000);
        Time {
            secs: secs.wrapping_add(carry),
            nanos: u32::try_from(nanos.rem_euclid(1_000_000_000)).expect("below 10^9"),
        }
    }

    /// A PAX time, `SECONDS[.FRACTION]`, as Go parses it: the fraction's digits past the ninth
    /// are checked but dropped, and a negative time's fraction counts towards the past.
    pub(crate) fn from_pax(s: &[u8]) -> Option<Time> {
        let (ss, sn) = match s.iter().position(|&c| c == b'.') {
            Some(i) => (&s[..i], &s[i + 1..]),
            None => (s, &b""[..]),
        };
        let secs = parse_int(ss)?;
        if sn.is_empty() {
            return Some(Time::unix(secs, 0));
        }
        let mut digits = [b'0'; 9];
        for (i, &c) in sn.iter().enumerate() {
            if !c.is_ascii_digit() {
                return None;
            }
            if i < digits.len() {
                digits[i] = c;
            }
        }
        let nanos = digits
            .iter()
            .fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
        if ss.first() == Some(&b'-') {
            Some(Time::unix(secs, -nanos))
        } else {
            Some(Time::unix(secs, nanos))
        }
    }

    /// RFC 3339, in UTC.
    pub fn render(&self) -> String {
        match jiff::Timestamp::new(self.secs, i32::try_from(self.nanos).unwrap_or(i32::MAX)) {
            Ok(t) => t.to_string(),
            Err(_) => format!("{}.{:09}s", self.secs, self.nanos),
        }
    }
}

/// One PAX record, `LENGTH KEY=VALUE\n`, from the front of `s`: the key, the value and the
/// rest, or `None` where Go reports a malformed header.
pub(crate) fn pax_record(s: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let space = s.iter().position(|&c| c == b' ')?;
    let (n_str, rest) = (&s[..space], &s[space + 1..]);
    let n = parse_int(n_str)?;
    if n < 5 || usize::try_from(n).is_ok_and(|n| n > s.len()) {
        return None;
    }
    let n = usize::try_from(n).ok()?.checked_sub(n_str.len() + 1)?;
    if n == 0 {
        return None;
    }
    let (record, newline, remainder) = (&rest[..n - 1], rest[n - 1], &rest[n..]);
    if newline != b'\n' {
        return None;
    }
    let eq = record.iter().position(|&c| c == b'=')?;
    let (key, value) = (&record[..eq], &record[eq + 1..]);
    let valid = !key.is_empty()
        && match key {
            b"path" | b"linkpath" | b"uname" | b"gname" => !value.contains(&0),
            _ => !key.contains(&0),
        };
    valid.then_some((key, value, remainder))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_fields_as_go_reads_them() {
        let mut p = Numbers::default();
        assert_eq!(p.octal(b"0000644\0"), 0o644);
        assert_eq!(p.octal(b"  644 \0"), 0o644);
        assert_eq!(p.octal(b"\0\0\0\0"), 0);
        assert_eq!(
            p.octal(b"12\x003\0"),
            0o12,
            "the field ends at its first NUL"
        );
        assert!(!p.failed);
        p.octal(b"+644\0");
        assert!(p.failed, "Go refuses a sign in an octal field");
        let mut p = Numbers::default();
        p.octal(b"0008\0");
        assert!(p.failed);
    }

    #[test]
    fn base256_fields() {
        let mut p = Numbers::default();
        assert_eq!(p.numeric(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), 256);
        assert_eq!(p.numeric(&[0xff; 12]), -1);
        assert!(!p.failed);
        p.numeric(&[0x80, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(p.failed, "more than 63 bits");
        // Bit 63 set by the last byte only: Go's second overflow check refuses it.
        let mut p = Numbers::default();
        p.numeric(&[0x80, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert!(p.failed, "bit 63");
        let mut p = Numbers::default();
        let max = [
            0x80, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        assert_eq!(p.numeric(&max), i64::MAX);
        let min = [0xff, 0xff, 0xff, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(p.numeric(&min), i64::MIN);
        assert_eq!(p.numeric(&[0x80, 0, 0, 0, 0, 0, 0, 1]), 1);
        assert!(!p.failed);
    }

    #[test]
    fn decimal_as_go_parse_int() {
        assert_eq!(parse_int(b"+12"), Some(12));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775808"), None);
        assert_eq!(parse_int(b"1_000"), None);
        assert_eq!(parse_int(b" 1"), None);
        assert_eq!(parse_int(b"+"), None);
    }

    #[test]
    fn pax_times() {
        assert_eq!(
            Time::from_pax(b"1700000000.5"),
            Some(Time {
                secs: 1_700_000_000,
                nanos: 500_000_000
            })
        );
        assert_eq!(
            Time::from_pax(b"-1.25"),
            Some(Time {
                secs: -2,
                nanos: 750_000_000
            })
        );
        assert_eq!(
            Time::from_pax(b"1.1234567891"),
            Some(Time {
                secs: 1,
                nanos: 123_456_789
            })
        );
        assert_eq!(Time::from_pax(b"1.x"), None);
        assert_eq!(Time::from_pax(b"1."), Some(Time { secs: 1, nanos: 0 }));
        assert_eq!(
            Time::from_pax(b"0").unwrap().render(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(Time::GO_ZERO.render(), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn pax_records() {
        assert_eq!(
            pax_record(b"10 path=a\nrest"),
            Some((&b"path"[..], &b"a"[..], &b"rest"[..]))
        );
        assert_eq!(pax_record(b"11 path=a\n"), None, "length beyond the data");
        assert_eq!(
            pax_record(b"5 k=\n"),
            Some((&b"k"[..], &b""[..], &b""[..])),
            "the shortest record"
        );
        assert_eq!(pax_record(b"10 path=a\r"), None);
        assert_eq!(pax_record(b"8 =abcd\n"), None, "empty key");
        assert_eq!(pax_record(b"12 path=a\0b\n"), None, "NUL in a path");
        assert_eq!(
            pax_record(b"12 other=\0b\n"),
            Some((&b"other"[..], &b"\0b"[..], &b""[..]))
        );
        assert_eq!(
            pax_record(b"+10 path=\n"),
            Some((&b"path"[..], &b""[..], &b""[..]))
        );
    }
}
