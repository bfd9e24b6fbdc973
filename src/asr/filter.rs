//! Deciding that an utterance was no input. Whisper invents text on silence, breathing and noise
//! ("Thank you.", "you", "[BLANK_AUDIO]"); none of that may ever become an intent. Gates before
//! recognition skip the decode entirely when there was nothing to hear ([`EnergyGate`] for
//! silence and hiss; media's VAD decides where speech starts and ends), and
//! [`HallucinationFilter`] judges the transcript after it (known filler outputs, non-speech tokens, Whisper's own
//! no-speech probability, runaway repetition). Pure functions of their input.

use super::recognizer::Transcript;

/// Why an utterance counts as no input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoInputReason {
    /// Nothing loud enough for long enough to be speech.
    TooQuiet,
    /// The transcript is empty.
    Empty,
    /// Only non-speech markers such as `[BLANK_AUDIO]`, `(music)` or `♪`.
    NonSpeech,
    /// A phrase Whisper is known to produce from silence or noise.
    KnownFiller,
    /// Whisper itself judged the audio to be non-speech.
    NoSpeechProbability,
    /// The decoder was too unsure of its own text.
    LowConfidence,
    /// The same word over and over: a decoder loop.
    Repetition,
}

/// The filter's judgement on one transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Real speech, with the cleaned text (non-speech markers removed) to classify.
    Speech(String),
    /// Treat as if the caller said nothing.
    NoInput(NoInputReason),
}

/// Phrases Whisper emits on silence and noise, normalised (lowercase, no punctuation).
/// Deliberately excludes words callers really answer with ("yes", "no", "okay", "bye").
const FILLERS: &[&str] = &[
    "you",
    "thank you",
    "thank you very much",
    "thanks",
    "thanks for watching",
    "thank you for watching",
    "thank you so much for watching",
    "please subscribe",
    "subtitles by the amara org community",
    "so",
    "uh",
    "um",
    "hmm",
    "mm",
    "ah",
    "oh",
    "huh",
    "the",
    "i",
];

/// Judges transcripts after recognition.
#[derive(Debug, Clone, PartialEq)]
pub struct HallucinationFilter {
    /// Above this no-speech probability the transcript is discarded.
    pub max_no_speech_prob: f32,
    /// Below this mean token probability the transcript is discarded.
    pub min_confidence: f32,
    /// This many identical words in a row is a decoder loop.
    pub max_repeats: usize,
}

impl Default for HallucinationFilter {
    fn default() -> Self {
        Self {
            max_no_speech_prob: 0.6,
            min_confidence: 0.3,
            max_repeats: 6,
        }
    }
}

impl HallucinationFilter {
    /// Judges one transcript.
    pub fn judge(&self, transcript: &Transcript) -> Verdict {
        // A sentence looped back to back is one sentence said once (short answers padded with
        // silence come back as "Operator. Operator. Operator. ..."); only a loop *inside* a
        // sentence is a decoder failure.
        let cleaned = collapse_repeated_sentences(&strip_non_speech(&transcript.text));
        let mut normalised = normalise(&cleaned);
        let mut cleaned = cleaned;
        // The same holds for a phrase looped without punctuation ("operator operator ...").
        if let Some(phrase) = looped_phrase(&normalised) {
            cleaned = phrase.clone();
            normalised = phrase;
        }
        // And for a word or short phrase looped inside the answer: a prompt that lists the
        // words a question expects makes Whisper list them back ("Nope, nope, wrong, nope,
        // wrong, nope, wrong,"). What the caller said is the phrase once, not nothing.
        let collapsed = collapse_word_loops(&normalised);
        if collapsed != normalised {
            cleaned = collapsed.clone();
            normalised = collapsed;
        }
        if normalised.is_empty() {
            let had_markers = !transcript.text.trim().is_empty();
            return Verdict::NoInput(if had_markers {
                NoInputReason::NonSpeech
            } else {
                NoInputReason::Empty
            });
        }
        if FILLERS.contains(&normalised.as_str()) {
            return Verdict::NoInput(NoInputReason::KnownFiller);
        }
        if transcript.no_speech_prob > self.max_no_speech_prob {
            return Verdict::NoInput(NoInputReason::NoSpeechProbability);
        }
        if transcript.confidence < self.min_confidence {
            return Verdict::NoInput(NoInputReason::LowConfidence);
        }
        if longest_run(&normalised) >= self.max_repeats {
            return Verdict::NoInput(NoInputReason::Repetition);
        }
        Verdict::Speech(cleaned)
    }
}

/// Removes `[...]`, `(...)`, `*...*` spans and music symbols; collapses whitespace.
fn strip_non_speech(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut closer: Option<char> = None;
    for c in text.chars() {
        match closer {
            Some(end) if c == end => closer = None,
            Some(_) => {}
            None => match c {
                '[' => closer = Some(']'),
                '(' => closer = Some(')'),
                '*' => closer = Some('*'),
                '♪' | '♫' | '♬' | '♩' => {}
                _ => out.push(c),
            },
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Lowercase words with punctuation removed (apostrophes and digits kept).
fn normalise(text: &str) -> String {
    text.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Keeps one copy of a sentence the decoder repeated back to back ("That was too fast. That
/// was too fast. That was too fast."): a known Whisper loop on short audio, which would
/// otherwise dilute what the caller said when it is classified.
fn collapse_repeated_sentences(text: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut last = String::new();
    for sentence in text.split_inclusive(['.', '?', '!']) {
        let key = normalise(sentence);
        if key.is_empty() || key != last {
            kept.push(sentence);
        }
        last = key;
    }
    kept.concat().trim().to_string()
}

/// The phrase, when `normalised` is nothing but one phrase said at least twice back to back
/// (the last repeat may be cut short by the decoder's token limit).
fn looped_phrase(normalised: &str) -> Option<String> {
    let words: Vec<&str> = normalised.split(' ').filter(|w| !w.is_empty()).collect();
    (1..=words.len() / 2)
        .find(|&period| {
            words.iter().enumerate().all(|(i, w)| {
                let expected = words.get(i % period).copied().unwrap_or_default();
                // The decoder may stop mid-word at its token limit.
                expected == *w || (i + 1 == words.len() && expected.starts_with(w))
            })
        })
        .map(|period| words[..period].join(" "))
}

/// Copies of one phrase back to back from which the run is a decoder loop. Two copies are
/// often real speech ("no no", "yeah correct, yeah correct").
const LOOP_COPIES: usize = 3;
/// Longest phrase, in words, looked for as a loop.
const LOOP_MAX_WORDS: usize = 4;

/// Keeps one copy of any phrase of up to [`LOOP_MAX_WORDS`] words repeated at least
/// [`LOOP_COPIES`] times back to back. Phrases with a digit or made only of one-letter words are
/// left alone: "4 4 4 4" and "S S" may be what a caller read out.
fn collapse_word_loops(normalised: &str) -> String {
    let mut words: Vec<&str> = normalised.split(' ').filter(|w| !w.is_empty()).collect();
    let loopable = |phrase: &[&str]| {
        phrase
            .iter()
            .all(|w| !w.chars().any(|c| c.is_ascii_digit()))
            && phrase
                .iter()
                .any(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2)
    };
    for n in 1..=LOOP_MAX_WORDS {
        let mut out: Vec<&str> = Vec::with_capacity(words.len());
        let mut i = 0;
        while i < words.len() {
            let phrase = words.get(i..i + n).unwrap_or_default();
            let mut copies = 1;
            if phrase.len() == n && loopable(phrase) {
                while words.get(i + copies * n..i + (copies + 1) * n) == Some(phrase) {
                    copies += 1;
                }
            }
            if copies >= LOOP_COPIES {
                out.extend_from_slice(phrase);
                i += copies * n;
                // A last copy cut short by the token limit is part of the loop too.
                let rest = words.get(i..).unwrap_or_default();
                let partial = phrase.iter().zip(rest).take_while(|(a, b)| a == b).count();
                if partial > 0 && partial < n && i + partial == words.len() {
                    i += partial;
                }
            } else if let Some(w) = words.get(i) {
                out.push(w);
                i += 1;
            }
        }
        words = out;
    }
    words.join(" ")
}

fn longest_run(normalised: &str) -> usize {
    let mut best = 0;
    let mut run = 0;
    let mut last = "";
    for word in normalised.split(' ') {
        run = if word == last { run + 1 } else { 1 };
        last = word;
        best = best.max(run);
    }
    best
}

/// Skips recognition when the audio never had enough energy to be speech. Measured on 20 ms
/// frames; cheap enough to run on every utterance. VAD (media) decides where speech is; this
/// guards the recogniser against being handed silence or line hiss anyway.
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyGate {
    /// A frame is "active" above this RMS level, in dBFS.
    pub min_frame_dbfs: f32,
    /// Total active time needed to count as possible speech.
    pub min_active_ms: u32,
}

impl Default for EnergyGate {
    fn default() -> Self {
        // -45 dBFS sits well above G.711 idle-channel noise yet below quiet telephone speech;
        // 100 ms is shorter than any word.
        Self {
            min_frame_dbfs: -45.0,
            min_active_ms: 100,
        }
    }
}

impl EnergyGate {
    const FRAME: usize = 320;

    /// True when `audio_16k` may hold speech and is worth recognising.
    pub fn passes(&self, audio_16k: &[f32]) -> bool {
        self.active_ms(audio_16k) >= self.min_active_ms
    }

    /// Milliseconds of frames above the level threshold.
    pub fn active_ms(&self, audio_16k: &[f32]) -> u32 {
        let threshold = 10f32.powf(self.min_frame_dbfs / 20.0);
        let active = audio_16k
            .chunks(Self::FRAME)
            .filter(|frame| {
                let energy: f32 = frame
                    .iter()
                    .map(|s| if s.is_finite() { s * s } else { 0.0 })
                    .sum();
                (energy / frame.len() as f32).sqrt() > threshold
            })
            .count();
        u32::try_from(active * 20).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard(text: &str) -> Transcript {
        Transcript {
            text: text.into(),
            confidence: 0.8,
            no_speech_prob: 0.05,
            ..Transcript::default()
        }
    }

    #[test]
    fn a_phrase_looped_without_punctuation_is_kept_once() {
        assert_eq!(
            looped_phrase("operator operator operator operator operator operator oper"),
            Some("operator".to_string()),
            "the decoder may stop mid-word"
        );
        assert_eq!(
            looped_phrase("operator operator operator operator operator operator operator"),
            Some("operator".to_string())
        );
        assert_eq!(
            looped_phrase("yeah correct yeah correct yeah"),
            Some("yeah correct".into())
        );
        assert_eq!(looped_phrase("no no thank you"), None);
        assert_eq!(looped_phrase("no"), None);
    }

    #[test]
    fn a_word_or_phrase_looped_inside_an_answer_is_kept_once() {
        assert_eq!(
            collapse_word_loops("nope nope wrong nope wrong nope wrong nope wrong nope"),
            "nope nope wrong"
        );
        assert_eq!(
            collapse_word_loops("yeah yeah yeah yeah yeah yeah yeah correct"),
            "yeah correct"
        );
        assert_eq!(
            collapse_word_loops("my bin my bin bin bin bin bin bin bin was"),
            "my bin my bin was"
        );
        // Real answers keep their repeats.
        for kept in [
            "no no",
            "4 4 4 4 7",
            "s s 1 7 0 b z",
            "yeah correct yeah correct",
        ] {
            assert_eq!(collapse_word_loops(kept), kept);
        }
        let f = HallucinationFilter::default();
        assert_eq!(
            f.judge(&heard(
                "Yeah, correct, correct, correct, correct, correct, correct, correct"
            )),
            Verdict::Speech("yeah correct".into())
        );
    }

    #[test]
    fn a_sentence_looped_by_the_decoder_is_kept_once() {
        assert_eq!(
            collapse_repeated_sentences("That was too fast. That was too fast. That was too fast."),
            "That was too fast."
        );
        assert_eq!(
            collapse_repeated_sentences("No. Not that one. No."),
            "No. Not that one. No."
        );
    }

    #[test]
    fn fillers_and_markers_are_no_input() {
        let f = HallucinationFilter::default();
        let cases = [
            ("", NoInputReason::Empty),
            ("   ", NoInputReason::Empty),
            ("[BLANK_AUDIO]", NoInputReason::NonSpeech),
            ("(music)", NoInputReason::NonSpeech),
            ("♪ ♪", NoInputReason::NonSpeech),
            ("*sighs*", NoInputReason::NonSpeech),
            ("Thank you.", NoInputReason::KnownFiller),
            (" you", NoInputReason::KnownFiller),
            ("Thanks for watching!", NoInputReason::KnownFiller),
            ("[Music] Thank you.", NoInputReason::KnownFiller),
            // A looped filler is still a filler.
            ("the the the the the the the", NoInputReason::KnownFiller),
            // The same digit read out too often to be a number is a decoder failure.
            ("4 4 4 4 4 4 4 4 4 7", NoInputReason::Repetition),
        ];
        for (text, reason) in cases {
            assert_eq!(f.judge(&heard(text)), Verdict::NoInput(reason), "{text:?}");
        }
    }

    #[test]
    fn real_answers_pass_cleaned() {
        let f = HallucinationFilter::default();
        for text in [
            "Yes.",
            "No",
            "My bin wasn't collected.",
            "Okay",
            "four seven two",
        ] {
            assert!(
                matches!(f.judge(&heard(text)), Verdict::Speech(_)),
                "{text:?}"
            );
        }
        assert_eq!(
            f.judge(&heard("[noise] missed bin")),
            Verdict::Speech("missed bin".into())
        );
    }

    #[test]
    fn whisper_doubt_is_no_input() {
        let f = HallucinationFilter::default();
        let mut t = heard("council tax");
        t.no_speech_prob = 0.9;
        assert_eq!(
            f.judge(&t),
            Verdict::NoInput(NoInputReason::NoSpeechProbability)
        );
        let mut t = heard("council tax");
        t.confidence = 0.05;
        assert_eq!(f.judge(&t), Verdict::NoInput(NoInputReason::LowConfidence));
    }

    #[test]
    fn energy_gate_rejects_silence_and_hiss() {
        let g = EnergyGate::default();
        assert!(!g.passes(&[]));
        assert!(!g.passes(&vec![0.0; 16_000]));
        // -60 dBFS hiss.
        let hiss: Vec<f32> = (0..16_000)
            .map(|i| if i % 2 == 0 { 0.001 } else { -0.001 })
            .collect();
        assert!(!g.passes(&hiss));
        let tone: Vec<f32> = (0..16_000).map(|i| 0.1 * (i as f32 * 0.2).sin()).collect();
        assert!(g.passes(&tone));
        assert!(!g.passes(&[f32::NAN; 4000]));
    }
}
