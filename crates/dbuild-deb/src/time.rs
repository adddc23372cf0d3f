//! Dates as Debian writes them (RFC 2822, always UTC in practice) and as the snapshot service
//! addresses them (`YYYYMMDDTHHMMSSZ`), without a date-time dependency.

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// (year, month 1-12, day 1-31) of a day count since the epoch.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses `Sat, 10 May 2025 08:58:03 UTC` (weekday optional; zone `UTC`, `GMT`, `Z` or `+hhmm`).
pub fn parse_rfc2822(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = match s.find(',') {
        Some(i) => &s[i + 1..],
        None => s,
    };
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() < 4 {
        return None;
    }
    let day: i64 = parts[0].parse().ok()?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(parts[1]))? as i64 + 1;
    let year: i64 = parts[2].parse().ok()?;
    let hms: Vec<i64> = parts[3].split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let (h, mi, se) = match hms[..] {
        [h, m, s] => (h, m, s),
        [h, m] => (h, m, 0),
        _ => return None,
    };
    // The year bound keeps the day arithmetic far from overflow on hostile input.
    if !(1970..=9999).contains(&year)
        || !(1..=31).contains(&day)
        || !(0..24).contains(&h)
        || !(0..60).contains(&mi)
        || !(0..61).contains(&se)
    {
        return None;
    }
    let offset = match parts.get(4).copied() {
        None | Some("UTC") | Some("GMT") | Some("Z") | Some("UT") => 0,
        Some(z) if (z.starts_with('+') || z.starts_with('-')) && z.len() == 5 => {
            let n: i64 = z[1..].parse().ok()?;
            let secs = (n / 100) * 3600 + (n % 100) * 60;
            if z.starts_with('-') {
                -secs
            } else {
                secs
            }
        }
        Some(_) => return None,
    };
    Some(days_from_civil(year, month, day) * 86400 + h * 3600 + mi * 60 + se - offset)
}

/// Formats seconds since the epoch as `Sat, 10 May 2025 08:58:03 UTC`.
pub fn format_rfc2822(t: i64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} UTC",
        WEEKDAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Formats seconds since the epoch as the snapshot service's `YYYYMMDDTHHMMSSZ`.
pub fn format_snapshot(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86400));
    let secs = t.rem_euclid(86400);
    format!("{:04}{:02}{:02}T{:02}{:02}{:02}Z", y, m, d, secs / 3600, (secs / 60) % 60, secs % 60)
}

/// Seconds since the epoch now. Only the CLI-facing entry points call this; library functions
/// take "now" as a parameter so they stay testable.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = parse_rfc2822("Sat, 10 May 2025 08:58:03 UTC").unwrap();
        assert_eq!(t, 1746867483);
        assert_eq!(format_rfc2822(t), "Sat, 10 May 2025 08:58:03 UTC");
        assert_eq!(format_snapshot(t), "20250510T085803Z");
        assert_eq!(parse_rfc2822("10 May 2025 10:58:03 +0200"), Some(t));
        assert_eq!(parse_rfc2822("Thu, 01 Jan 1970 00:00:00 UTC"), Some(0));
        assert_eq!(parse_rfc2822("nonsense"), None);
        assert_eq!(parse_rfc2822("Sat, 10 May 99999999999999999 08:58:03 UTC"), None);
        assert_eq!(parse_rfc2822("Sat, 10 Foo 2025 08:58:03 UTC"), None);
    }
}
