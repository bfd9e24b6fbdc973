//! Dates relative to the call date: "today", "yesterday", "tomorrow", "next Tuesday",
//! "last Monday", "on Tuesday", "in two days", "three days ago", "the third of December",
//! "December the 3rd", "3rd December 2026", "3/12/2026" (UK day-month order), ISO dates, and
//! keyed DDMMYYYY.
//!
//! Without a year, the occurrence of the day nearest to the call date is meant. A bare weekday
//! ("on Tuesday") is the coming one, unless the sentence is in the past tense ("it wasn't
//! collected on Tuesday"), then the last one.

use chrono::{Datelike, Days, NaiveDate, Weekday};

use super::numbers::first_digits;

/// Parses a date. `raw` is the unnormalised text (for "3/12/2026"), `words` its normalised words.
pub(super) fn parse(raw: &str, words: &[String], call_date: NaiveDate) -> Option<NaiveDate> {
    numeric_date(raw)
        .or_else(|| relative_day(words, call_date))
        .or_else(|| day_and_month(words, call_date))
        .or_else(|| weekday(words, call_date))
        .or_else(|| offset(words, call_date))
}

/// Keyed DDMMYYYY or DDMMYY.
pub(super) fn from_keyed(digits: &str) -> Option<NaiveDate> {
    let field = |range: std::ops::Range<usize>| digits.get(range)?.parse::<u32>().ok();
    let (day, month) = (field(0..2)?, field(2..4)?);
    let year = match digits.len() {
        8 => i32::try_from(field(4..8)?).ok()?,
        6 => 2000 + i32::try_from(field(4..6)?).ok()?,
        _ => return None,
    };
    NaiveDate::from_ymd_opt(year, month, day)
}

/// "3/12/2026", "03-12-26", "3.12.2026" (day first, as in the UK) or ISO "2026-12-03".
fn numeric_date(raw: &str) -> Option<NaiveDate> {
    raw.split_whitespace().find_map(|token| {
        let token = token.trim_matches(|c: char| !c.is_ascii_digit());
        let parts: Vec<&str> = token.split(['/', '-', '.']).collect();
        let [a, b, c] = parts.as_slice() else {
            return None;
        };
        let (a, b, c): (u32, u32, u32) = (a.parse().ok()?, b.parse().ok()?, c.parse().ok()?);
        if a > 999 {
            return NaiveDate::from_ymd_opt(i32::try_from(a).ok()?, b, c);
        }
        let year = if c < 100 { 2000 + c } else { c };
        NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, b, a)
    })
}

fn relative_day(words: &[String], call_date: NaiveDate) -> Option<NaiveDate> {
    let has = |w: &str| words.iter().any(|x| x == w);
    let text = words.join(" ");
    if text.contains("day after tomorrow") {
        return call_date.checked_add_days(Days::new(2));
    }
    if text.contains("day before yesterday") {
        return call_date.checked_sub_days(Days::new(2));
    }
    if has("today")
        || has("tonight")
        || text.contains("this morning")
        || text.contains("this afternoon")
    {
        return Some(call_date);
    }
    if has("yesterday") || text.contains("last night") {
        return call_date.checked_sub_days(Days::new(1));
    }
    if has("tomorrow") {
        return call_date.checked_add_days(Days::new(1));
    }
    None
}

fn month_number(word: &str) -> Option<u32> {
    Some(match word {
        "january" | "jan" => 1,
        "february" | "feb" => 2,
        "march" | "mar" => 3,
        "april" | "apr" => 4,
        "may" => 5,
        "june" | "jun" => 6,
        "july" | "jul" => 7,
        "august" | "aug" => 8,
        "september" | "sept" | "sep" => 9,
        "october" | "oct" => 10,
        "november" | "nov" => 11,
        "december" | "dec" => 12,
        _ => return None,
    })
}

/// An ordinal or cardinal day number at `words[i..]`: "3rd", "3", "third", "twenty third",
/// "twenty three". Returns the day and the words used.
fn day_number(words: &[String], i: usize) -> Option<(u32, usize)> {
    let word = words.get(i)?;
    let digits: String = word.chars().take_while(char::is_ascii_digit).collect();
    if !digits.is_empty() {
        let suffix = word.get(digits.len()..).unwrap_or_default();
        if !matches!(suffix, "" | "st" | "nd" | "rd" | "th") {
            return None;
        }
        return digits
            .parse()
            .ok()
            .filter(|d| (1..=31).contains(d))
            .map(|d| (d, 1));
    }
    let tens = match word.as_str() {
        "twenty" => Some(20),
        "thirty" => Some(30),
        _ => None,
    };
    if let Some(tens) = tens
        && let Some(unit) = words
            .get(i + 1)
            .and_then(|w| ordinal_unit(w).or_else(|| cardinal_unit(w)))
        && unit < 10
    {
        return Some((tens + unit, 2)).filter(|(d, _)| *d <= 31);
    }
    match word.as_str() {
        "twentieth" => return Some((20, 1)),
        "thirtieth" => return Some((30, 1)),
        _ => {}
    }
    ordinal_unit(word)
        .or_else(|| cardinal_unit(word))
        .filter(|d| (1..=31).contains(d))
        .map(|d| (d, 1))
}

fn ordinal_unit(word: &str) -> Option<u32> {
    Some(match word {
        "first" => 1,
        "second" => 2,
        "third" => 3,
        "fourth" => 4,
        "fifth" => 5,
        "sixth" => 6,
        "seventh" => 7,
        "eighth" => 8,
        "ninth" => 9,
        "tenth" => 10,
        "eleventh" => 11,
        "twelfth" => 12,
        "thirteenth" => 13,
        "fourteenth" => 14,
        "fifteenth" => 15,
        "sixteenth" => 16,
        "seventeenth" => 17,
        "eighteenth" => 18,
        "nineteenth" => 19,
        _ => return None,
    })
}

fn cardinal_unit(word: &str) -> Option<u32> {
    Some(match word {
        "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" => 12,
        "thirteen" => 13,
        "fourteen" => 14,
        "fifteen" => 15,
        "sixteen" => 16,
        "seventeen" => 17,
        "eighteen" => 18,
        "nineteen" => 19,
        _ => return None,
    })
}

/// "the third of December", "December the 3rd", "3rd December 2026", "Thursday 3 December".
fn day_and_month(words: &[String], call_date: NaiveDate) -> Option<NaiveDate> {
    let (m_index, month) = words
        .iter()
        .enumerate()
        .find_map(|(i, w)| month_number(w).map(|m| (i, m)))?;
    // Day before the month: "[the] third [of] december".
    let before = {
        let mut j = m_index;
        if j > 0 && words.get(j - 1).is_some_and(|w| w == "of") {
            j -= 1;
        }
        (1..=2).rev().find_map(|len| {
            let start = j.checked_sub(len)?;
            // "thirty second" is not the 2nd: a tens word before a one-word day belongs to it.
            let tens_before = start
                .checked_sub(1)
                .and_then(|p| words.get(p))
                .is_some_and(|w| w == "twenty" || w == "thirty");
            day_number(words, start).filter(|(_, used)| *used == len && !(len == 1 && tens_before))
        })
    };
    let after = || {
        let mut j = m_index + 1;
        if words.get(j).is_some_and(|w| w == "the") {
            j += 1;
        }
        day_number(words, j).map(|(d, used)| (d, j + used))
    };
    let (day, year_from) = match before {
        Some((d, _)) => (d, m_index + 1),
        None => after()?,
    };
    let year = words
        .get(year_from..)
        .and_then(first_digits)
        .and_then(|d| d.parse::<i32>().ok())
        .map(|y| if y < 100 { 2000 + y } else { y })
        .filter(|y| (1900..=2200).contains(y));
    match year {
        Some(y) => NaiveDate::from_ymd_opt(y, month, day),
        None => nearest(call_date, month, day),
    }
}

/// The date with this month and day nearest to the call date (within six months either way).
fn nearest(call_date: NaiveDate, month: u32, day: u32) -> Option<NaiveDate> {
    let year = call_date.year();
    [year - 1, year, year + 1]
        .into_iter()
        .filter_map(|y| NaiveDate::from_ymd_opt(y, month, day))
        .min_by_key(|d| (*d - call_date).num_days().abs())
}

fn weekday_of(word: &str) -> Option<Weekday> {
    Some(match word {
        "monday" | "mon" => Weekday::Mon,
        "tuesday" | "tues" | "tue" => Weekday::Tue,
        "wednesday" | "wed" => Weekday::Wed,
        "thursday" | "thurs" | "thu" => Weekday::Thu,
        "friday" | "fri" => Weekday::Fri,
        "saturday" | "sat" => Weekday::Sat,
        "sunday" | "sun" => Weekday::Sun,
        _ => return None,
    })
}

/// Words that put a sentence in the past, so a bare weekday means the last one.
fn past_tense(words: &[String]) -> bool {
    words.iter().any(|w| {
        matches!(
            w.as_str(),
            "was"
                | "were"
                | "did"
                | "had"
                | "missed"
                | "ago"
                | "happened"
                | "came"
                | "went"
                | "collected"
                | "emptied"
                | "dumped"
                | "broke"
                | "left"
                | "called"
                | "rang"
        )
    })
}

/// "next Tuesday", "last Monday", "this Friday", "on Tuesday", "Tuesday next week".
fn weekday(words: &[String], call_date: NaiveDate) -> Option<NaiveDate> {
    let (i, day) = words
        .iter()
        .enumerate()
        .find_map(|(i, w)| weekday_of(w).map(|d| (i, d)))?;
    let before = i
        .checked_sub(1)
        .and_then(|p| words.get(p))
        .map(String::as_str);
    let after: Vec<&str> = words
        .iter()
        .skip(i + 1)
        .take(2)
        .map(String::as_str)
        .collect();
    let ahead = (7 + day.num_days_from_monday() - call_date.weekday().num_days_from_monday()) % 7;
    let behind = (7 + call_date.weekday().num_days_from_monday() - day.num_days_from_monday()) % 7;
    let coming =
        || call_date.checked_add_days(Days::new(u64::from(if ahead == 0 { 7 } else { ahead })));
    let previous =
        || call_date.checked_sub_days(Days::new(u64::from(if behind == 0 { 7 } else { behind })));
    if before == Some("last") || before == Some("past") || after == ["last", "week"] {
        if after == ["last", "week"] {
            // The given weekday in the week (Monday to Sunday) before this one.
            let monday = call_date.checked_sub_days(Days::new(
                u64::from(call_date.weekday().num_days_from_monday()) + 7,
            ))?;
            return monday.checked_add_days(Days::new(u64::from(day.num_days_from_monday())));
        }
        return previous();
    }
    if after == ["next", "week"]
        || before == Some("week") && words.get(i.wrapping_sub(2)).is_some_and(|w| w == "next")
    {
        let monday = call_date.checked_add_days(Days::new(
            7 - u64::from(call_date.weekday().num_days_from_monday()),
        ))?;
        return monday.checked_add_days(Days::new(u64::from(day.num_days_from_monday())));
    }
    if matches!(before, Some("next" | "coming" | "this")) {
        return coming();
    }
    if ahead == 0 && !past_tense(words) {
        return Some(call_date);
    }
    if past_tense(words) {
        previous()
    } else {
        coming()
    }
}

/// "in two days", "in a week", "three days ago", "a fortnight ago".
fn offset(words: &[String], call_date: NaiveDate) -> Option<NaiveDate> {
    let unit_index = words.iter().position(|w| {
        matches!(
            w.as_str(),
            "day" | "days" | "week" | "weeks" | "fortnight" | "fortnights"
        )
    })?;
    let unit_days: i64 = match words.get(unit_index).map(String::as_str) {
        Some("day" | "days") => 1,
        Some("week" | "weeks") => 7,
        _ => 14,
    };
    let count: i64 = match unit_index
        .checked_sub(1)
        .and_then(|p| words.get(p))
        .map(String::as_str)
    {
        Some("a" | "one") => 1,
        Some("couple") => 2,
        Some(w) => first_digits(&[w.to_string()]).and_then(|d| d.parse().ok())?,
        None => return None,
    };
    let days = count.checked_mul(unit_days)?;
    let ago = words.get(unit_index + 1).is_some_and(|w| w == "ago");
    let future = words.iter().take(unit_index).any(|w| w == "in");
    let delta = chrono::Duration::try_days(if ago {
        -days
    } else if future {
        days
    } else {
        return None;
    })?;
    call_date.checked_add_signed(delta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::normalise::words;

    fn call_date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap() // a Thursday; constant input
    }

    fn date(text: &str) -> Option<String> {
        parse(text, &words(text), call_date()).map(|d| d.format("%Y-%m-%d").to_string())
    }

    #[test]
    fn spoken_dates() {
        let cases = [
            ("today", "2026-11-26"),
            ("yesterday", "2026-11-25"),
            ("tomorrow", "2026-11-27"),
            ("the day after tomorrow", "2026-11-28"),
            ("next Tuesday", "2026-12-01"),
            ("Next Tuesday please", "2026-12-01"),
            ("last Monday", "2026-11-23"),
            ("on Tuesday", "2026-12-01"),
            ("it wasn't collected on Tuesday", "2026-11-24"),
            ("this Saturday", "2026-11-28"),
            ("Tuesday next week", "2026-12-01"),
            ("Thursday", "2026-11-26"),
            ("next Thursday", "2026-12-03"),
            ("last Thursday", "2026-11-19"),
            ("the third of December", "2026-12-03"),
            ("December the 3rd", "2026-12-03"),
            ("December third", "2026-12-03"),
            ("3rd December 2026", "2026-12-03"),
            ("3 December", "2026-12-03"),
            ("the twenty third of November", "2026-11-23"),
            ("the twenty first of january", "2027-01-21"),
            ("the thirtieth of november", "2026-11-30"),
            ("the fifth of march twenty twenty seven", "2027-03-05"),
            ("3/12/2026", "2026-12-03"),
            ("03-12-26", "2026-12-03"),
            ("2026-12-03", "2026-12-03"),
            ("in two days", "2026-11-28"),
            ("in a week", "2026-12-03"),
            ("three days ago", "2026-11-23"),
            ("a fortnight ago", "2026-11-12"),
        ];
        for (text, expected) in cases {
            assert_eq!(date(text).as_deref(), Some(expected), "{text:?}");
        }
    }

    #[test]
    fn non_dates_are_rejected() {
        for text in [
            "",
            "hello",
            "the thirty second of december",
            "31/02/2026",
            "some days",
            "may i",
        ] {
            assert_eq!(date(text), None, "{text:?}");
        }
    }

    #[test]
    fn keyed_dates() {
        assert_eq!(from_keyed("03122026"), NaiveDate::from_ymd_opt(2026, 12, 3));
        assert_eq!(from_keyed("031226"), NaiveDate::from_ymd_opt(2026, 12, 3));
        assert_eq!(from_keyed("31022026"), None);
        assert_eq!(from_keyed("3122026"), None);
    }
}
