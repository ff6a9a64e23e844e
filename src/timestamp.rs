//! UTC calendar arithmetic for `--since`/`--until`, `date=` folders and the summary, without a
//! date-time dependency. All instants are Unix seconds.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "invalid time {0:?}: expected a date (2026-11-01), an RFC 3339 timestamp \
     (2026-11-01T06:00:00Z) or a relative time (36h, 7d)"
)]
pub struct TimeParseError(pub String);

/// Parses a `--since`/`--until` value: `YYYY-MM-DD` (00:00 UTC), RFC 3339, or a relative time
/// before `now` (`90s`, `30m`, `36h`, `7d`, `2w`).
pub fn parse_instant(text: &str, now: i64) -> Result<i64, TimeParseError> {
    let err = || TimeParseError(text.to_string());
    let t = text.trim();
    if let Some(secs) = parse_relative(t) {
        return now.checked_sub(secs).ok_or_else(err);
    }
    if t.len() == 10 {
        return parse_date(t).ok_or_else(err);
    }
    parse_rfc3339(t).ok_or_else(err)
}

fn parse_relative(t: &str) -> Option<i64> {
    let unit = match t.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    let digits = &t[..t.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok()?.checked_mul(unit)
}

/// `YYYY-MM-DD` → midnight UTC.
pub fn parse_date(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(&t[0..4])?, num(&t[5..7])?, num(&t[8..10])?);
    valid_ymd(y, m, d).then(|| days_from_civil(y, m, d) * 86_400)
}

/// A Currents `date=YYYY-MM-DD-HH` folder value → the start of that UTC hour.
pub fn parse_date_hour(t: &str) -> Option<i64> {
    let (date, hour) = (t.get(..10)?, t.get(10..)?);
    let hour = hour.strip_prefix('-')?;
    if hour.len() != 2 {
        return None;
    }
    let h = num(hour)?;
    (h < 24).then_some(parse_date(date)? + h * 3600)
}

fn parse_rfc3339(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let day = parse_date(&t[..10])?;
    let (h, mi, s) = (num(&t[11..13])?, num(&t[14..16])?, num(&t[17..19])?);
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &t[19..];
    let mut round_up = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        round_up = i64::from(frac[..digits].bytes().any(|b| b != b'0'));
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let (oh, om) = (num(&rest[1..3])?, num(&rest[4..6])?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    // Event times are whole seconds, so a bound with a fraction is rounded up: `time >= 12:00:00.5`
    // and `time < 12:00:02.5` both mean the same as with the next whole second.
    Some(day + h * 3600 + mi * 60 + s - offset + round_up)
}

fn num(t: &str) -> Option<i64> {
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

fn valid_ymd(y: i64, m: i64, d: i64) -> bool {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    (1..=12).contains(&m) && d >= 1 && d <= days[(m - 1) as usize]
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2026-11-29T14:50:00Z`.
pub fn format_utc(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_000_000;

    #[test]
    fn dates_are_midnight_utc() {
        assert_eq!(parse_instant("1970-01-01", NOW), Ok(0));
        assert_eq!(parse_instant("2026-11-01", NOW), Ok(1_793_491_200));
        assert_eq!(parse_instant("2024-02-29", NOW), Ok(1_709_164_800));
        assert!(parse_instant("2025-02-29", NOW).is_err());
        assert!(parse_instant("2026-13-01", NOW).is_err());
    }

    #[test]
    fn rfc3339_with_offsets_and_fractions() {
        assert_eq!(parse_instant("2026-11-01T06:00:00Z", NOW), Ok(1_793_491_200 + 6 * 3600));
        assert_eq!(parse_instant("2026-11-01T06:00:00.999+02:00", NOW), Ok(1_793_491_200 + 4 * 3600 + 1));
        assert_eq!(parse_instant("2026-11-01T06:00:00.000Z", NOW), Ok(1_793_491_200 + 6 * 3600));
        assert_eq!(parse_instant("2026-11-01T06:00:00-01:30", NOW), Ok(1_793_491_200 + 7 * 3600 + 1800));
        assert!(parse_instant("2026-11-01T06:00:00", NOW).is_err());
        assert!(parse_instant("2026-11-01T25:00:00Z", NOW).is_err());
    }

    #[test]
    fn relative_times_count_back_from_now() {
        assert_eq!(parse_instant("36h", NOW), Ok(NOW - 36 * 3600));
        assert_eq!(parse_instant("7d", NOW), Ok(NOW - 7 * 86_400));
        assert_eq!(parse_instant("2w", NOW), Ok(NOW - 14 * 86_400));
        assert_eq!(parse_instant("90s", NOW), Ok(NOW - 90));
        assert!(parse_instant("h", NOW).is_err());
        assert!(parse_instant("-3d", NOW).is_err());
        assert!(parse_instant("yesterday", NOW).is_err());
    }

    #[test]
    fn date_hour_folders() {
        assert_eq!(parse_date_hour("2026-11-01-13"), Some(1_793_491_200 + 13 * 3600));
        assert_eq!(parse_date_hour("2026-11-01-24"), None);
        assert_eq!(parse_date_hour("2026-11-01"), None);
    }

    #[test]
    fn format_round_trips() {
        for t in [0, 31_536_000, 1_793_491_200 + 13 * 3600 + 61, 2_033_802_504, -1] {
            assert_eq!(parse_instant(&format_utc(t), NOW), Ok(t), "{}", format_utc(t));
        }
        assert_eq!(format_utc(2_033_802_504), "2034-06-13T09:08:24Z");
    }
}
