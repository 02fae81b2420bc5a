//! The demo data set shipped in `demo/demo.yaml`, with its relative dates filled in.

use chrono::{Days, NaiveDate};

/// The demo data template, with `{{days:N}}` placeholders.
pub const TEMPLATE: &str = include_str!("../../../demo/demo.yaml");

/// Replaces every `{{days:N}}` with the date `today + N days` (`YYYY-MM-DD`).
pub fn render(template: &str, today: NaiveDate) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{days:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + "{{days:".len()..];
        let end = after
            .find("}}")
            .ok_or("unterminated `{{days:` placeholder")?;
        let offset: i64 = after[..end]
            .trim()
            .parse()
            .map_err(|_| format!("`{}` is not a whole number of days", &after[..end]))?;
        let days = Days::new(offset.unsigned_abs());
        let date = if offset >= 0 {
            today.checked_add_days(days)
        } else {
            today.checked_sub_days(days)
        }
        .ok_or_else(|| format!("{offset} days from {today} is out of range"))?;
        out.push_str(&date.format("%Y-%m-%d").to_string());
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The demo data for `today`.
pub fn data(today: NaiveDate) -> Result<String, String> {
    render(TEMPLATE, today)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dates_relative_to_today() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        assert_eq!(
            render("a {{days:-5}} b {{days:30}}", today).unwrap(),
            "a 2026-11-28 b 2027-01-02"
        );
        assert!(render("{{days:x}}", today).is_err());
        assert!(!data(today).unwrap().contains("{{"));
    }

    #[test]
    fn demo_data_parses() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let parsed = super::super::import::parse("demo.yaml", &data(today).unwrap()).unwrap();
        assert_eq!(parsed.tenants.len(), 4);
        assert_eq!(parsed.products.len(), 2);
    }
}
