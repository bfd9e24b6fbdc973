//! Personal data that must never reach a log line in clear.
//!
//! Caller numbers, postcodes and free text are wrapped in [`Pii`] from the moment they are parsed.
//! `Debug` and `Display` print a redacted form; code that really needs the value (the CRM adapter,
//! the flow interpreter) calls [`Pii::expose`], which makes every such place easy to find.

use std::fmt;

/// A value that is personal data. Formatting it redacts it.
///
/// ```
/// use frontdoor::Pii;
///
/// let caller = Pii::new("07700900123".to_string());
/// assert_eq!(format!("caller {caller}"), "caller ***23");
/// assert_eq!(caller.expose(), "07700900123");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pii<T>(T);

impl<T> Pii<T> {
    pub fn new(value: T) -> Self {
        Pii(value)
    }

    /// The value in clear. Every call site is a place personal data leaves the wrapper.
    pub fn expose(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl Pii<String> {
    /// A redacted rendering that keeps enough to correlate log lines by eye without
    /// identifying anyone: the last two characters of a phone number, nothing of other text.
    pub fn redacted(&self) -> String {
        let s = &self.0;
        if s.is_empty() {
            return "<none>".to_string();
        }
        let digits = s.chars().filter(|c| c.is_ascii_digit()).count();
        if digits >= 6 && digits * 2 >= s.chars().count() {
            let tail: String = s
                .chars()
                .rev()
                .take(2)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("***{tail}")
        } else {
            format!("<redacted {} chars>", s.chars().count())
        }
    }
}

impl fmt::Debug for Pii<String> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for Pii<String> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl<T> From<T> for Pii<T> {
    fn from(value: T) -> Self {
        Pii(value)
    }
}

impl<T: serde::Serialize> serde::Serialize for Pii<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Pii<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Pii)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_keep_only_last_two_digits() {
        let p = Pii::new("+447700900123".to_string());
        assert_eq!(format!("{p}"), "***23");
        assert_eq!(format!("{p:?}"), "***23");
    }

    #[test]
    fn text_is_fully_redacted() {
        let p = Pii::new("RM17 6SL".to_string());
        assert_eq!(format!("{p}"), "<redacted 8 chars>");
    }
}
