//! Calendar functions (`hour`, `minute`, `month`, `year`, `day_of_week`,
//! `day_of_month`, `day_of_year`, `days_in_month`), all in UTC.

use crate::functions::Func;

/// (year, month 1..=12, day 1..=31) of the civil date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Applies a calendar function to a Unix time in seconds.
pub(crate) fn date_fn(func: Func, secs: f64) -> f64 {
    if !secs.is_finite() {
        return f64::NAN;
    }
    let s = secs.trunc() as i64;
    let days = s.div_euclid(86_400);
    let sod = s.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (match func {
        Func::Hour => sod / 3600,
        Func::Minute => (sod % 3600) / 60,
        Func::Month => m,
        Func::Year => y,
        Func::DayOfMonth => d,
        Func::DayOfWeek => (days + 4).rem_euclid(7),
        Func::DayOfYear => {
            let cum: i64 = (1..m).map(|mm| days_in_month(y, mm)).sum();
            cum + d
        }
        Func::DaysInMonth => days_in_month(y, m),
        _ => return f64::NAN,
    }) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        // 2024-02-29T13:45:00Z = 1709214300
        let t = 1_709_214_300.0;
        assert_eq!(date_fn(Func::Year, t), 2024.0);
        assert_eq!(date_fn(Func::Month, t), 2.0);
        assert_eq!(date_fn(Func::DayOfMonth, t), 29.0);
        assert_eq!(date_fn(Func::Hour, t), 13.0);
        assert_eq!(date_fn(Func::Minute, t), 45.0);
        assert_eq!(date_fn(Func::DayOfWeek, t), 4.0); // Thursday
        assert_eq!(date_fn(Func::DayOfYear, t), 60.0);
        assert_eq!(date_fn(Func::DaysInMonth, t), 29.0);
        assert_eq!(date_fn(Func::DayOfWeek, 0.0), 4.0); // 1970-01-01 Thursday
        assert_eq!(date_fn(Func::Year, -1.0), 1969.0);
    }
}
