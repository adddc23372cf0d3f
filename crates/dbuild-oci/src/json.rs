//! Canonical JSON: object keys sorted by bytes, no insignificant whitespace, UTF-8 as is.
//!
//! Values go through `serde_json::Value`, whose objects are `BTreeMap`s as long as
//! serde_json's `preserve_order` feature is off anywhere in the build (a test below fails if
//! feature unification ever turns it on). So the struct field order of our types, or the
//! key order of a parsed base config, never reaches the bytes.

use serde::Serialize;

/// Serializes `value` canonically.
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let v = serde_json::to_value(value)?;
    serde_json::to_vec(&v)
}

/// `seconds` since the Unix epoch as RFC 3339 in UTC (`1970-01-01T00:00:00Z` for 0), without
/// touching the clock or the time zone database.
pub fn rfc3339(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let secs = seconds % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Unsorted {
        zebra: u32,
        apple: Vec<u32>,
        #[serde(rename = "Mixed")]
        mixed: &'static str,
    }

    #[test]
    fn keys_are_sorted_and_compact() {
        let v = Unsorted { zebra: 1, apple: vec![2, 1], mixed: "é\"" };
        assert_eq!(
            String::from_utf8(canonical_json(&v).unwrap()).unwrap(),
            "{\"Mixed\":\"é\\\"\",\"apple\":[2,1],\"zebra\":1}"
        );
    }

    #[test]
    fn parsed_objects_lose_their_key_order() {
        // Fails if serde_json's preserve_order feature gets enabled by any crate in the build.
        let v: serde_json::Value = serde_json::from_str(r#"{ "b": {"y": 1, "x": 2}, "a": null }"#).unwrap();
        assert_eq!(canonical_json(&v).unwrap(), br#"{"a":null,"b":{"x":2,"y":1}}"#);
    }

    #[test]
    fn epoch_formats() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
