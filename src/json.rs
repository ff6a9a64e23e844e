//! Hand-rolled JSON writing for the hot path: values are appended to a reused byte buffer
//! without building `serde_json::Value`s. Output matches `serde_json`'s compact form.

/// Appends `s` (valid UTF-8) as a JSON string literal, escaped exactly as `serde_json` does.
pub fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    write_str_contents(out, s);
    out.push(b'"');
}

/// Appends `s` escaped, without the surrounding quotes.
pub fn write_str_contents(out: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let escape = ESCAPE[b as usize];
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(&s[start..i]);
        match escape {
            b'u' => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
            }
            short => out.extend_from_slice(&[b'\\', short]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
}

/// For each byte: 0 if it stands as is, else the letter of its escape (`u` for `\u00XX`).
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Appends an integer.
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends the shortest decimal that round-trips the 32-bit float (`1.1`, not
/// `1.10000104904175`). Returns false, writing nothing, for NaN and infinities.
pub fn write_f32(out: &mut Vec<u8>, v: f32) -> bool {
    if !v.is_finite() {
        return false;
    }
    out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    true
}

/// Appends the shortest decimal that round-trips the 64-bit float. Returns false, writing
/// nothing, for NaN and infinities.
pub fn write_f64(out: &mut Vec<u8>, v: f64) -> bool {
    if !v.is_finite() {
        return false;
    }
    out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(input: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, input.as_bytes());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_escape_like_serde_json() {
        for input in
            ["plain", "quo\"te", "back\\slash", "nl\ncr\rtab\t", "\u{0}\u{1f}\u{7f}", "\u{8}\u{c}", "Zoë 😀 测试"]
        {
            assert_eq!(s(input), serde_json::to_string(input).unwrap(), "{input:?}");
        }
    }

    #[test]
    fn floats_are_shortest_round_trip_and_non_finite_is_refused() {
        let mut out = Vec::new();
        assert!(write_f32(&mut out, 1.1));
        assert_eq!(out, b"1.1");
        out.clear();
        assert!(write_f64(&mut out, 0.1));
        assert_eq!(out, b"0.1");
        out.clear();
        assert!(!write_f32(&mut out, f32::NAN));
        assert!(!write_f64(&mut out, f64::INFINITY));
        assert!(out.is_empty());
    }
}
