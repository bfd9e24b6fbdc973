//! Read-backs: how a captured value is said to the caller so they can confirm it. Digits are
//! read one by one with a pause (comma) between groups, postcodes letter by letter with a pause
//! between its halves, dates as "Thursday the 3rd of December".

use chrono::Datelike;

use super::SlotValue;

pub(super) fn spoken(value: &SlotValue) -> String {
    match value {
        SlotValue::Bool(true) => "yes".to_string(),
        SlotValue::Bool(false) => "no".to_string(),
        SlotValue::Digits(d) => grouped(d, &digit_groups(d.chars().count())),
        SlotValue::Phone(p) => phone(p),
        SlotValue::Number(n) => n.to_string(),
        SlotValue::Postcode(p) => p
            .split_whitespace()
            .map(spaced)
            .collect::<Vec<_>>()
            .join(", "),
        SlotValue::Date(d) => format!(
            "{} the {} of {}",
            d.format("%A"),
            ordinal(d.day()),
            d.format("%B")
        ),
        SlotValue::Text(t) => t.clone(),
        SlotValue::Enum(v) => v.replace('_', " "),
    }
}

/// Group sizes for a digit string: up to four digits in one group, longer strings in threes
/// with the remainder first ("47291" → "4 7, 2 9 1" reads worse than "4 7 2, 9 1").
fn digit_groups(len: usize) -> Vec<usize> {
    if len <= 4 {
        return vec![len];
    }
    let mut groups = vec![3; len / 3];
    match len % 3 {
        0 => {}
        1 => {
            // Avoid a lone digit: 3+3+1 becomes 3+4? Keep speech rhythm with a final pair.
            if let Some(last) = groups.last_mut() {
                *last = 2;
            }
            groups.push(2);
        }
        r => groups.push(r),
    }
    groups
}

/// UK phone numbers in the groups people say them: 5-3-3 for 11 digits starting 07 or 01,
/// 3-4-4 for 02 numbers, otherwise digit groups.
fn phone(p: &str) -> String {
    let len = p.chars().count();
    let groups = if p.starts_with("02") && len == 11 {
        vec![3, 4, 4]
    } else if p.starts_with('0') && len == 11 {
        vec![5, 3, 3]
    } else {
        digit_groups(len)
    };
    let spelled = grouped(p.trim_start_matches('+'), &groups);
    if p.starts_with('+') {
        format!("plus {spelled}")
    } else {
        spelled
    }
}

fn grouped(text: &str, groups: &[usize]) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    for &size in groups {
        let end = (start + size).min(chars.len());
        if let Some(group) = chars.get(start..end)
            && !group.is_empty()
        {
            out.push(spaced(&group.iter().collect::<String>()));
        }
        start = end;
    }
    if let Some(rest) = chars.get(start..)
        && !rest.is_empty()
    {
        out.push(spaced(&rest.iter().collect::<String>()));
    }
    out.join(", ")
}

fn spaced(text: &str) -> String {
    text.chars().map(String::from).collect::<Vec<_>>().join(" ")
}

fn ordinal(day: u32) -> String {
    let suffix = match (day % 10, day % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{day}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn read_backs() {
        let date = |y, m, d| SlotValue::Date(NaiveDate::from_ymd_opt(y, m, d).unwrap()); // constant
        let cases = [
            (SlotValue::Digits("472".into()), "4 7 2"),
            (SlotValue::Digits("47291".into()), "4 7 2, 9 1"),
            (SlotValue::Digits("123456".into()), "1 2 3, 4 5 6"),
            (SlotValue::Digits("1234567".into()), "1 2 3, 4 5, 6 7"),
            (SlotValue::Postcode("RM17 6SL".into()), "R M 1 7, 6 S L"),
            (
                SlotValue::Phone("07700900123".into()),
                "0 7 7 0 0, 9 0 0, 1 2 3",
            ),
            (
                SlotValue::Phone("02079460000".into()),
                "0 2 0, 7 9 4 6, 0 0 0 0",
            ),
            (
                SlotValue::Phone("+33123456789".into()),
                "plus 3 3 1, 2 3 4, 5 6 7, 8 9",
            ),
            (date(2026, 12, 3), "Thursday the 3rd of December"),
            (date(2026, 12, 1), "Tuesday the 1st of December"),
            (date(2026, 12, 12), "Saturday the 12th of December"),
            (date(2026, 11, 22), "Sunday the 22nd of November"),
            (SlotValue::Number(1200), "1200"),
            (SlotValue::Bool(true), "yes"),
            (SlotValue::Enum("garden_waste".into()), "garden waste"),
            (SlotValue::Text("my bin".into()), "my bin"),
        ];
        for (value, expected) in cases {
            assert_eq!(spoken(&value), expected, "{value:?}");
        }
    }
}
