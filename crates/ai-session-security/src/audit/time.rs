//! RFC 3339 UTC timestamps (`2026-11-25T22:15:03.123Z`) without a date-time dependency:
//! the audit log only needs to write them, order them and parse `--since`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Formats a time as RFC 3339 UTC with milliseconds.
pub fn format_rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC), or a relative age such as
/// `90s`, `15m`, `2h`, `7d` (meaning that long before now).
pub fn parse_since(text: &str, now: SystemTime) -> Option<SystemTime> {
    let text = text.trim();
    if let Some(age) = parse_age(text) {
        return now.checked_sub(age);
    }
    let (date, time) = text.split_once('T').unwrap_or((text, "00:00:00Z"));
    let mut date_parts = date.split('-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: u32 = date_parts.next()?.parse().ok()?;
    let day: u32 = date_parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || date_parts.next().is_some() {
        return None;
    }
    let time = time.strip_suffix('Z').unwrap_or(time);
    let (clock, millis) = time.split_once('.').unwrap_or((time, "0"));
    let mut clock_parts = clock.split(':');
    let hour: u64 = clock_parts.next()?.parse().ok()?;
    let minute: u64 = clock_parts.next().unwrap_or("0").parse().ok()?;
    let second: u64 = clock_parts.next().unwrap_or("0").parse().ok()?;
    let millis: u64 = format!("{millis:0<3}")[..3].parse().ok()?;
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
}

fn parse_age(text: &str) -> Option<Duration> {
    let unit = text.chars().last()?;
    let count: u64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let secs = match unit {
        's' => count,
        'm' => count * 60,
        'h' => count * 3600,
        'd' => count * 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_back() {
        for secs in [0u64, 951_782_400, 1_700_000_000, 4_102_444_800] {
            let time = UNIX_EPOCH + Duration::from_millis(secs * 1000 + 123);
            let text = format_rfc3339(time);
            assert_eq!(parse_since(&text, SystemTime::now()), Some(time), "{text}");
        }
        assert_eq!(format_rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn relative_and_date_only() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            parse_since("15m", now),
            Some(now - Duration::from_secs(900))
        );
        assert_eq!(
            parse_since("2d", now),
            Some(now - Duration::from_secs(172_800))
        );
        assert_eq!(
            parse_since("1970-01-02", now),
            Some(UNIX_EPOCH + Duration::from_secs(86_400))
        );
        assert_eq!(parse_since("yesterday", now), None);
        assert_eq!(parse_since("2026-13-01", now), None);
    }
}
