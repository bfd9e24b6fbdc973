//! DTMF: the 16 digits, RFC 4733 telephone-events (receive and send), the in-band Goertzel
//! detector, and a tone generator.
//!
//! Owns the mapping between digits, event codes and frequencies. All three paths (RFC 4733,
//! in-band, and SIP INFO handled by `sip`) end in the same `char` digit. Must not touch packets
//! other than telephone-event payloads.

pub mod goertzel;
pub mod rfc4733;
pub mod tone;

pub use goertzel::InbandDtmfDetector;
pub use rfc4733::{TelephoneEvent, TelephoneEventReceiver, TelephoneEventSender};
pub use tone::{DtmfToneGenerator, DtmfToneSource};

/// Low-group (row) frequencies in Hz (ITU-T Q.23).
pub const ROW_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// High-group (column) frequencies in Hz (ITU-T Q.23).
pub const COL_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// Keypad layout: `KEYPAD[row][col]`.
const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// RFC 4733 §3.2 event code (0–15) to digit.
pub fn event_to_digit(code: u8) -> Option<char> {
    const DIGITS: [char; 16] = [
        '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
    ];
    DIGITS.get(usize::from(code)).copied()
}

/// Digit to RFC 4733 §3.2 event code; accepts lower-case `a`–`d`.
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

/// Row and column index of a digit on the keypad.
pub fn digit_position(digit: char) -> Option<(usize, usize)> {
    let d = digit.to_ascii_uppercase();
    KEYPAD
        .iter()
        .enumerate()
        .find_map(|(r, row)| row.iter().position(|&c| c == d).map(|c| (r, c)))
}

/// The digit at a keypad position.
pub fn digit_at(row: usize, col: usize) -> Option<char> {
    KEYPAD.get(row).and_then(|r| r.get(col)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_codes_round_trip() {
        for code in 0..16u8 {
            let d = event_to_digit(code).unwrap();
            assert_eq!(digit_to_event(d), Some(code));
            let (r, c) = digit_position(d).unwrap();
            assert_eq!(digit_at(r, c), Some(d));
        }
        assert_eq!(event_to_digit(16), None);
        assert_eq!(digit_to_event('x'), None);
        assert_eq!(digit_to_event('b'), Some(13));
    }
}
