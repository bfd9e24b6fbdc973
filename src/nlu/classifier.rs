//! The intent classifier: scores a caller's words against each intent's examples and keywords.
//!
//! Everything it knows about intents comes from the flow's [`IntentSpec`]s; it adds only
//! English-language knowledge from [`super::text`]. Built once per flow version in
//! [`Classifier::new`] (all vocabulary work happens there), then [`Classifier::classify`] is a
//! few passes over the caller's words, linear in their number.

use std::collections::HashMap;

use super::error::NluError;
use super::normalise::words;
use super::semantic::{Closeness, SemanticIndex};
use super::text::{first_vowel, is_stop_word, phonetic_key, stem, trigram_similarity, trigrams};

/// How an intent competes with the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntentPriority {
    /// Wins only by scoring highest.
    #[default]
    Normal,
    /// Wins whenever one of its keywords or example phrases is heard, even inside a longer
    /// sentence (advisor, safeguarding), or when the sentence as a whole means it. Among
    /// several such intents, the one declared first wins.
    Always,
    /// A request about the conversation itself (repeat, slower, goodbye): wins only when the
    /// sentence is about it, not when one of its words sits inside a sentence about something
    /// else ("they missed my bin again").
    Aside,
}

/// One intent as a flow declares it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IntentSpec {
    /// The name the flow branches on, e.g. `missed_bin`.
    pub name: String,
    /// Whole example utterances.
    pub examples: Vec<String>,
    /// Words or short phrases that strongly indicate the intent.
    pub keywords: Vec<String>,
    pub priority: IntentPriority,
}

/// Decision thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassifierConfig {
    /// Below this confidence the result is no match.
    pub no_match_threshold: f32,
    /// The winner must beat the runner-up by at least this much, else no match (ambiguous).
    pub margin: f32,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        ClassifierConfig {
            no_match_threshold: 0.45,
            margin: 0.05,
        }
    }
}

/// The result of classifying one utterance.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Classification {
    /// The chosen intent; `None` is no match.
    pub intent: Option<String>,
    /// Confidence of the best-scoring intent, 0..1 (reported even when it is below threshold).
    pub confidence: f32,
    /// The three best intents with their scores, best first, for the call log.
    pub top: Vec<(String, f32)>,
    /// Why the best intent scored as it did: its nearest example by meaning and the cosine,
    /// when the sentence model is in use.
    pub nearest: Option<(String, f32)>,
    /// The best intent's score from words alone (keywords and example words).
    pub word_score: f32,
}

/// A vocabulary term: a stem with its informativeness.
#[derive(Debug, Clone)]
struct Term {
    /// Inverse intent frequency: high for words only one intent uses.
    weight: f32,
    trigrams: Vec<[char; 3]>,
    /// First vowel of the stem: a sound-alike must share it.
    vowel: Option<char>,
}

/// One example or keyword phrase reduced to vocabulary term ids.
#[derive(Debug, Clone)]
struct Phrase {
    /// Content terms (deduplicated), for similarity.
    terms: Vec<usize>,
    /// Sum of the terms' weights.
    weight: f32,
    /// For keywords: 1 when only this intent uses the phrase, 1/n when n intents do.
    specificity: f32,
    /// Every word's stem in order, stop words included, for "heard inside the sentence" checks.
    sequence: Vec<String>,
}

#[derive(Debug, Clone)]
struct Intent {
    name: String,
    priority: IntentPriority,
    examples: Vec<Phrase>,
    keywords: Vec<Phrase>,
    /// Every term any example or keyword of this intent uses (sorted ids).
    vocabulary: Vec<usize>,
}

/// A word of the caller's utterance after matching it to the vocabulary.
#[derive(Debug, Clone)]
struct QueryWord {
    stem: String,
    /// Matched vocabulary term and how well it matched (1 exact, less for sound-alike).
    term: Option<(usize, f32)>,
    /// Weight in the utterance: the term's weight, or a fixed share for unknown words.
    weight: f32,
    content: bool,
}

/// An intent classifier built from a flow's intents.
#[derive(Debug, Clone)]
pub struct Classifier {
    intents: Vec<Intent>,
    terms: Vec<Term>,
    by_stem: HashMap<String, usize>,
    by_sound: HashMap<String, Vec<usize>>,
    config: ClassifierConfig,
    unknown_weight: f32,
    /// The examples' sentence embeddings, when the sentence model is available.
    semantic: Option<SemanticIndex>,
}

/// Content similarity mixes the best example's weighted Dice overlap with how much of what the
/// caller said the intent's vocabulary explains.
const EXAMPLE_SHARE: f32 = 0.6;
const COVERAGE_SHARE: f32 = 0.4;
/// A keyword heard lifts an intent above the default no-match threshold on its own; a keyword
/// only this intent uses lifts it further; similarity adds the rest.
const KEYWORD_FLOOR: f32 = 0.5;
const KEYWORD_SPECIFIC: f32 = 0.1;
const KEYWORD_BASE: f32 = 0.4;
/// Added per further distinct keyword heard, for at most this many.
const MORE_KEYWORDS_BONUS: f32 = 0.05;
const MORE_KEYWORDS_MAX: usize = 2;
/// Without a keyword an intent can reach this much, so a keyword hit on a perfect example wins.
const NO_KEYWORD_CEILING: f32 = 0.9;
/// Confidence reported for an always-intent heard inside a sentence.
const ALWAYS_CONFIDENCE: f32 = 0.9;
/// Words of an utterance considered; the rest is ignored.
const MAX_WORDS: usize = 64;
/// How much a sound-alike or spelled-alike word counts compared with an exact one.
const SOUND_ALIKE: f32 = 0.85;
const SPELL_ALIKE_MIN: f32 = 0.6;
/// Two words joined must make at least this many letters to be matched by sound: short
/// words sound like too much by chance.
const COMPOUND_MIN_LETTERS: usize = 6;
/// Shortest part of a word heard run together that is split off ("bin" of "binmen").
const SPLIT_MIN_LETTERS: usize = 3;

impl Classifier {
    /// Builds the classifier; all vocabulary statistics are computed here.
    pub fn new(intents: &[IntentSpec], config: ClassifierConfig) -> Result<Self, NluError> {
        for (name, value) in [
            ("no_match_threshold", config.no_match_threshold),
            ("margin", config.margin),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(NluError::InvalidSetting { name, value });
            }
        }
        if intents.is_empty() {
            return Err(NluError::NoIntents);
        }
        let mut by_stem: HashMap<String, usize> = HashMap::new();
        let mut stems: Vec<String> = Vec::new();
        let mut intent_terms: Vec<Vec<Vec<usize>>> = Vec::new();
        let mut intent_keywords: Vec<Vec<Vec<usize>>> = Vec::new();
        let mut seen_names: Vec<&str> = Vec::new();
        for (index, spec) in intents.iter().enumerate() {
            if spec.name.trim().is_empty() {
                return Err(NluError::EmptyIntentName { index });
            }
            if seen_names.contains(&spec.name.as_str()) {
                return Err(NluError::DuplicateIntent(spec.name.clone()));
            }
            seen_names.push(&spec.name);
            let mut intern = |text: &str| -> Vec<usize> {
                let mut ids = Vec::new();
                for word in words(text) {
                    if is_stop_word(&word) {
                        continue;
                    }
                    let s = stem(&word);
                    let id = *by_stem.entry(s.clone()).or_insert_with(|| {
                        stems.push(s);
                        stems.len() - 1
                    });
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                ids
            };
            let examples: Vec<Vec<usize>> = spec.examples.iter().map(|e| intern(e)).collect();
            let keywords: Vec<Vec<usize>> = spec.keywords.iter().map(|k| intern(k)).collect();
            if examples.iter().chain(&keywords).all(|t| t.is_empty())
                && spec
                    .examples
                    .iter()
                    .chain(&spec.keywords)
                    .all(|t| words(t).is_empty())
            {
                return Err(NluError::IntentWithoutExamples(spec.name.clone()));
            }
            intent_terms.push(examples);
            intent_keywords.push(keywords);
        }

        // Inverse intent frequency: a word used by one intent identifies it; a word every
        // intent uses says nothing.
        let n = intents.len() as f32;
        let mut intent_frequency = vec![0usize; stems.len()];
        for (examples, keywords) in intent_terms.iter().zip(&intent_keywords) {
            let mut vocabulary: Vec<usize> =
                examples.iter().chain(keywords).flatten().copied().collect();
            vocabulary.sort_unstable();
            vocabulary.dedup();
            for id in vocabulary {
                if let Some(count) = intent_frequency.get_mut(id) {
                    *count += 1;
                }
            }
        }
        let terms: Vec<Term> = stems
            .iter()
            .zip(&intent_frequency)
            .map(|(s, &df)| Term {
                weight: (1.0 + n / df.max(1) as f32).ln(),
                trigrams: trigrams(s),
                vowel: first_vowel(s),
            })
            .collect();
        let mut by_sound: HashMap<String, Vec<usize>> = HashMap::new();
        for (id, s) in stems.iter().enumerate() {
            let key = phonetic_key(s);
            if key.chars().count() >= 2 {
                by_sound.entry(key).or_default().push(id);
            }
        }
        let unknown_weight = 0.5 * (1.0 + n).ln();

        // How many intents use each keyword's words, as a keyword or in an example: "collected"
        // is a missed-bin keyword, but "can you collect my sofa" is bulky waste, so hearing
        // "collect" says less than hearing "fridge".
        let vocabularies: Vec<Vec<usize>> = intent_terms
            .iter()
            .zip(&intent_keywords)
            .map(|(examples, keywords)| {
                let mut v: Vec<usize> =
                    examples.iter().chain(keywords).flatten().copied().collect();
                v.sort_unstable();
                v.dedup();
                v
            })
            .collect();
        let mut keyword_users: HashMap<Vec<usize>, usize> = HashMap::new();
        for keywords in &intent_keywords {
            for k in keywords {
                let k = sorted(k.clone());
                if k.is_empty() || keyword_users.contains_key(&k) {
                    continue;
                }
                let users = vocabularies
                    .iter()
                    .filter(|v| k.iter().all(|id| v.binary_search(id).is_ok()))
                    .count();
                keyword_users.insert(k, users);
            }
        }
        let phrase = |text: &str, ids: Vec<usize>| Phrase {
            weight: ids
                .iter()
                .filter_map(|&id| terms.get(id))
                .map(|t| t.weight)
                .sum(),
            specificity: 1.0
                / keyword_users
                    .get(&sorted(ids.clone()))
                    .copied()
                    .unwrap_or(1)
                    .max(1) as f32,
            terms: ids,
            sequence: words(text).iter().map(|w| stem(w)).collect(),
        };
        let built: Vec<Intent> = intents
            .iter()
            .zip(intent_terms.into_iter().zip(intent_keywords))
            .map(|(spec, (examples, keywords))| {
                let mut vocabulary: Vec<usize> = examples
                    .iter()
                    .chain(&keywords)
                    .flatten()
                    .copied()
                    .collect();
                vocabulary.sort_unstable();
                vocabulary.dedup();
                Intent {
                    name: spec.name.clone(),
                    priority: spec.priority,
                    examples: spec
                        .examples
                        .iter()
                        .zip(examples)
                        .map(|(t, ids)| phrase(t, ids))
                        .collect(),
                    keywords: spec
                        .keywords
                        .iter()
                        .zip(keywords)
                        .map(|(t, ids)| phrase(t, ids))
                        .collect(),
                    vocabulary,
                }
            })
            .collect();
        Ok(Classifier {
            intents: built,
            terms,
            by_stem,
            by_sound,
            config,
            unknown_weight,
            semantic: None,
        })
    }

    /// Adds closeness in meaning to the examples (see [`SemanticIndex`]).
    pub fn with_semantics(mut self, index: SemanticIndex) -> Self {
        self.semantic = Some(index);
        self
    }

    /// The sentence embeddings in use, if any.
    pub fn semantics(&self) -> Option<&SemanticIndex> {
        self.semantic.as_ref()
    }

    /// The thresholds this classifier decides with.
    pub fn config(&self) -> ClassifierConfig {
        self.config
    }

    /// Names of the intents, in declaration order.
    pub fn intent_names(&self) -> impl Iterator<Item = &str> {
        self.intents.iter().map(|i| i.name.as_str())
    }

    /// Classifies one utterance (typed text or a transcript).
    pub fn classify(&self, text: &str) -> Classification {
        self.classify_among(text, |_| true)
    }

    /// Classifies one utterance among the intents `allowed` accepts: those the current
    /// question can act on. An intent the question cannot use must not win (a stray "no" in
    /// "how much do I owe, oh no" at an open menu), nor make a usable one ambiguous ("no,
    /// that's everything, goodbye" is goodbye where "no" answers nothing).
    pub fn classify_among(&self, text: &str, allowed: impl Fn(&str) -> bool) -> Classification {
        let query = self.match_words(text);
        if !query.iter().any(|w| w.content) {
            return Classification::default();
        }
        let query_weight: f32 = query.iter().filter(|w| w.content).map(|w| w.weight).sum();
        // How well the utterance contains each vocabulary term (1 exact, less if sound-alike).
        let mut heard = vec![0.0f32; self.terms.len()];
        for (id, quality) in query.iter().filter_map(|w| w.term) {
            if let Some(h) = heard.get_mut(id) {
                *h = h.max(quality);
            }
        }
        let mut scored: Vec<(usize, f32)> = self
            .intents
            .iter()
            .enumerate()
            .filter(|(_, intent)| allowed(&intent.name))
            .map(|(i, intent)| (i, self.score(intent, &heard, query_weight)))
            .collect();
        let closeness = self.semantic.as_ref().and_then(|s| s.closeness(text));
        let words_only: Vec<(usize, f32)> = scored.clone();
        let similarity = |i: usize| -> f32 {
            closeness
                .as_ref()
                .and_then(|c| c.get(i).cloned().flatten())
                .map_or(f32::NEG_INFINITY, |c| c.similarity)
        };
        // Over every intent, not only those this question can act on: a sentence that means
        // something the question does not offer is still not about safeguarding.
        let nearest_overall = closeness
            .iter()
            .flatten()
            .flatten()
            .map(|c| c.similarity)
            .fold(f32::NEG_INFINITY, f32::max);
        if let Some(close) = &closeness {
            // The nearest sentence among the intents that are not asides: an aside whose
            // examples are further from the sentence than that is not what it is about.
            let nearest_topic = scored
                .iter()
                .filter(|(i, _)| {
                    self.intents
                        .get(*i)
                        .is_some_and(|it| it.priority != IntentPriority::Aside)
                })
                .map(|(i, _)| similarity(*i))
                .fold(f32::NEG_INFINITY, f32::max);
            for (i, score) in &mut scored {
                let c = close.get(*i).cloned().flatten();
                *score = blend(*score, c.as_ref());
                let aside = self
                    .intents
                    .get(*i)
                    .is_some_and(|it| it.priority == IntentPriority::Aside);
                if aside && similarity(*i) < nearest_topic {
                    *score *= ASIDE_OUTWEIGHED;
                }
                // An always-intent not heard by its phrases wins on meaning only when its
                // examples are the nearest of all ("I live alone" at a question that does not
                // offer the discount is not a safeguarding call).
                let always = self
                    .intents
                    .get(*i)
                    .is_some_and(|it| it.priority == IntentPriority::Always);
                if always && similarity(*i) < nearest_overall {
                    *score *= ASIDE_OUTWEIGHED;
                }
            }
        }

        // An always-intent heard anywhere in the sentence, or nearest in meaning and close
        // enough, wins outright.
        // By meaning it must lead every other intent's nearest example: "I want to report a
        // <misheard word>" is near "I need to report a safeguarding concern" by its frame
        // alone, and about as near to the services' "I want to report ..." examples.
        let nearest_other = |i: usize| {
            closeness
                .iter()
                .flatten()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .filter_map(|(_, c)| c.as_ref().map(|c| c.similarity))
                .fold(f32::NEG_INFINITY, f32::max)
        };
        let always = self.intents.iter().enumerate().position(|(i, intent)| {
            intent.priority == IntentPriority::Always
                && allowed(&intent.name)
                && (heard_inside(intent, &query)
                    || similarity(i) >= ALWAYS_MEANING
                        && similarity(i) >= nearest_other(i) + ALWAYS_MEANING_LEAD)
        });
        if let Some(i) = always
            && let Some(entry) = scored.iter_mut().find(|s| s.0 == i)
        {
            entry.1 = entry.1.max(ALWAYS_CONFIDENCE);
        }
        scored.sort_by(|a, b| {
            let first = |x: &(usize, f32)| Some(x.0) == always;
            first(b)
                .cmp(&first(a))
                .then(b.1.total_cmp(&a.1))
                .then(a.0.cmp(&b.0))
        });
        let top: Vec<(String, f32)> = scored
            .iter()
            .take(3)
            .filter_map(|&(i, s)| self.intents.get(i).map(|it| (it.name.clone(), s)))
            .collect();
        let best = scored.first().copied();
        let second = scored.get(1).map_or(0.0, |s| s.1);
        let intent = best.and_then(|(i, score)| {
            let decisive = always.is_some()
                || score >= self.config.no_match_threshold && score - second >= self.config.margin;
            decisive
                .then(|| self.intents.get(i).map(|it| it.name.clone()))
                .flatten()
        });
        let nearest = best.and_then(|(i, _)| {
            closeness
                .as_ref()
                .and_then(|c| c.get(i).cloned().flatten())
                .map(|c| (c.nearest, c.similarity))
        });
        let word_score = best
            .and_then(|(i, _)| words_only.iter().find(|w| w.0 == i))
            .map_or(0.0, |w| w.1);
        Classification {
            intent,
            confidence: best.map_or(0.0, |b| b.1),
            top,
            nearest,
            word_score,
        }
    }

    /// Normalises, stems and matches each word of `text` to the vocabulary.
    fn match_words(&self, text: &str) -> Vec<QueryWord> {
        let mut raw = words(text);
        // Fifteen seconds of speech is about fifty words; beyond that, more words only cost time.
        raw.truncate(MAX_WORDS);
        let mut out: Vec<QueryWord> = Vec::with_capacity(raw.len());
        let mut i = 0;
        while let Some(word) = raw.get(i) {
            // A compound split by the recogniser ("pot hole" for "pothole"), when the parts are
            // not both words the intents use themselves ("street light" stays two words); or
            // the same split heard as two other words ("know where" for "nowhere"), matched by
            // sound when neither word means anything to the intents.
            if let Some(next) = raw.get(i + 1)
                && !is_stop_word(word)
                && let Some(joined) = self.joined(word, next)
            {
                out.push(joined);
                i += 2;
                continue;
            }
            let s = stem(word);
            if is_stop_word(word) {
                out.push(QueryWord {
                    stem: s,
                    term: None,
                    weight: 0.0,
                    content: false,
                });
            } else if let Some(&id) = self.by_stem.get(&s) {
                out.push(self.known(s, id, 1.0));
            } else if let Some(parts) = self.split(word) {
                out.extend(parts);
            } else if let Some((id, quality)) = self.fuzzy(&s) {
                out.push(self.known(s, id, quality));
            } else {
                out.push(QueryWord {
                    stem: s,
                    term: None,
                    weight: self.unknown_weight,
                    content: true,
                });
            }
            i += 1;
        }
        out
    }

    /// `word` and `next` heard as one vocabulary word, exactly or by sound (see
    /// [`Self::match_words`]).
    fn joined(&self, word: &str, next: &str) -> Option<QueryWord> {
        let (known_word, known_next) = (
            self.by_stem.contains_key(&stem(word)),
            self.by_stem.contains_key(&stem(next)),
        );
        let joined = stem(&format!("{word}{next}"));
        if !(known_word && known_next)
            && let Some(&id) = self.by_stem.get(&joined)
        {
            return Some(self.known(joined, id, 1.0));
        }
        if known_word
            || known_next
            || is_stop_word(next)
            || word.len() + next.len() < COMPOUND_MIN_LETTERS
        {
            return None;
        }
        let (id, quality) = self.sound_alike(&joined)?;
        Some(self.known(joined, id, quality))
    }

    /// Two words the intents use, heard run together ("binmen" for "bin men"): both parts
    /// must be vocabulary words of at least [`SPLIT_MIN_LETTERS`] letters.
    fn split(&self, word: &str) -> Option<[QueryWord; 2]> {
        if !word.is_ascii() || word.len() < 2 * SPLIT_MIN_LETTERS {
            return None;
        }
        (SPLIT_MIN_LETTERS..=word.len() - SPLIT_MIN_LETTERS).find_map(|at| {
            let (head, tail) = word.split_at(at);
            if is_stop_word(head) || is_stop_word(tail) {
                return None;
            }
            let (head, tail) = (stem(head), stem(tail));
            let a = *self.by_stem.get(&head)?;
            let b = *self.by_stem.get(&tail)?;
            Some([self.known(head, a, 1.0), self.known(tail, b, 1.0)])
        })
    }

    fn known(&self, stem: String, id: usize, quality: f32) -> QueryWord {
        let weight = self.terms.get(id).map_or(self.unknown_weight, |t| t.weight);
        QueryWord {
            stem,
            term: Some((id, quality)),
            weight,
            content: true,
        }
    }

    /// The vocabulary term a misrecognised word most likely stands for.
    fn fuzzy(&self, stem: &str) -> Option<(usize, f32)> {
        if let Some(found) = self.sound_alike(stem) {
            return Some(found);
        }
        if stem.chars().count() < 4 {
            return None;
        }
        let grams = trigrams(stem);
        self.terms
            .iter()
            .enumerate()
            .map(|(id, t)| (id, trigram_similarity(&grams, &t.trigrams)))
            .filter(|&(_, sim)| sim >= SPELL_ALIKE_MIN)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(id, sim)| (id, sim * SOUND_ALIKE))
    }

    /// The vocabulary term that sounds like `stem` (same sound key of two sounds or more, same
    /// first vowel), if any.
    fn sound_alike(&self, stem: &str) -> Option<(usize, f32)> {
        let key = phonetic_key(stem);
        let grams = trigrams(stem);
        // A word with no vowel is letters said one by one ("S L" of a postcode, "RM"): it
        // sounds like no word ("SL" is not "slow").
        let vowel = first_vowel(stem)?;
        let vowel = Some(vowel);
        if key.chars().count() >= 2
            && let Some(ids) = self.by_sound.get(&key)
        {
            // Several words may sound alike ("bill", "boil"): take the closest spelling.
            let closest = ids
                .iter()
                .copied()
                .filter(|&id| {
                    self.terms
                        .get(id)
                        .is_none_or(|t| vowel.is_none() || t.vowel == vowel)
                })
                .max_by(|&a, &b| {
                    let sim = |id: usize| {
                        self.terms
                            .get(id)
                            .map_or(0.0, |t| trigram_similarity(&grams, &t.trigrams))
                    };
                    sim(a).total_cmp(&sim(b)).then(b.cmp(&a))
                });
            if let Some(id) = closest {
                return Some((id, SOUND_ALIKE));
            }
        }
        None
    }

    fn score(&self, intent: &Intent, heard: &[f32], query_weight: f32) -> f32 {
        let quality = |id: usize| heard.get(id).copied().unwrap_or(0.0);
        let weight = |id: usize| self.terms.get(id).map_or(0.0, |t| t.weight);
        let matched =
            |ids: &[usize]| -> f32 { ids.iter().map(|&id| quality(id) * weight(id)).sum() };
        let example = intent
            .examples
            .iter()
            .filter(|e| e.weight > 0.0)
            .map(|e| 2.0 * matched(&e.terms) / (e.weight + query_weight))
            .fold(0.0f32, f32::max);
        let coverage = if query_weight > 0.0 {
            (matched(&intent.vocabulary) / query_weight).min(1.0)
        } else {
            0.0
        };
        let base = (EXAMPLE_SHARE * example + COVERAGE_SHARE * coverage).min(1.0);
        // The best keyword lifts the intent; each further one heard in full is a little more
        // evidence ("pay what I owe by card": pay and card against owe), so that it only
        // separates keyword ties.
        let (keyword, heard_in_full) = intent
            .keywords
            .iter()
            .filter(|k| !k.terms.is_empty())
            .map(|k| {
                // A keyword heard only as a sound-alike lifts the intent less.
                let heard = k.terms.iter().map(|&id| quality(id)).fold(1.0f32, f32::min);
                heard * (KEYWORD_FLOOR + KEYWORD_SPECIFIC * k.specificity)
            })
            .fold((0.0f32, 0usize), |(best, n), lift| {
                (best.max(lift), n + usize::from(lift >= KEYWORD_FLOOR))
            });
        let more_keywords = heard_in_full.saturating_sub(1).min(MORE_KEYWORDS_MAX);
        let keyword = keyword + MORE_KEYWORDS_BONUS * more_keywords as f32;
        if keyword > 0.0 {
            (keyword + KEYWORD_BASE * base).min(1.0)
        } else {
            NO_KEYWORD_CEILING * base
        }
    }
}

/// An aside (or an always-intent not heard by its phrases) outweighed in meaning by another
/// intent keeps this share of its score.
const ASIDE_OUTWEIGHED: f32 = 0.5;

/// An always-intent (safeguarding) whose examples are the nearest in meaning wins from this
/// cosine up, even with none of its phrases heard ("he controls all my money and won't let me
/// see my family").
const ALWAYS_MEANING: f32 = 0.5;
/// ... and leads every other intent's nearest example by this much.
const ALWAYS_MEANING_LEAD: f32 = 0.05;
/// Closeness in meaning (the mean cosine of an intent's two nearest examples) maps linearly to
/// 0..1 between these: unrelated sentences sit below the first, paraphrases near the second.
const MEANING_LOW: f32 = 0.15;
const MEANING_HIGH: f32 = 0.75;
/// The word score's share of the combined score; closeness in meaning has the rest.
const WORD_SHARE: f32 = 0.35;

/// Combines the word score with closeness in meaning. The constants were chosen by leaving
/// each example of the council flow out in turn and classifying it against the rest (the
/// development utterances are all right either way, so they cannot choose).
fn blend(words: f32, close: Option<&Closeness>) -> f32 {
    let Some(c) = close else { return words };
    let meaning = ((c.nearest_two - MEANING_LOW) / (MEANING_HIGH - MEANING_LOW)).clamp(0.0, 1.0);
    (WORD_SHARE * words + (1.0 - WORD_SHARE) * meaning).clamp(0.0, 1.0)
}

fn sorted(mut ids: Vec<usize>) -> Vec<usize> {
    ids.sort_unstable();
    ids
}

/// Whether one of an always-intent's keywords or examples is heard inside the utterance: its
/// words in order (stems compared, stop words included so "talk to someone" stays a phrase),
/// with at most one extra word inside a keyword ("not feeling safe", "speak to someone please").
fn heard_inside(intent: &Intent, query: &[QueryWord]) -> bool {
    let stems: Vec<&str> = query.iter().map(|w| w.stem.as_str()).collect();
    let keywords = intent.keywords.iter().map(|p| (p, 1));
    let examples = intent.examples.iter().map(|p| (p, 0));
    keywords
        .chain(examples)
        .filter(|(p, _)| !p.sequence.is_empty() && !p.terms.is_empty())
        .any(|(p, gaps)| occurs(&stems, &p.sequence, gaps))
}

/// Whether `phrase` occurs in `words` in order, starting anywhere, with at most `gaps` words
/// inserted. Linear in `words` times the phrase length.
fn occurs(words: &[&str], phrase: &[String], gaps: usize) -> bool {
    let Some(first) = phrase.first() else {
        return false;
    };
    words
        .iter()
        .enumerate()
        .filter(|(_, w)| **w == first.as_str())
        .any(|(start, _)| {
            let mut skipped = 0;
            let mut at = start + 1;
            for want in phrase.iter().skip(1) {
                loop {
                    match words.get(at) {
                        Some(w) if *w == want.as_str() => break,
                        Some(_) if skipped < gaps => {
                            skipped += 1;
                            at += 1;
                        }
                        _ => return false,
                    }
                }
                at += 1;
            }
            true
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn letters_without_a_vowel_sound_like_no_word() {
        let c = Classifier::new(
            &[
                IntentSpec {
                    name: "slower".into(),
                    examples: vec!["you are going too fast".into()],
                    keywords: vec!["slow".into()],
                    priority: IntentPriority::Aside,
                },
                IntentSpec {
                    name: "other".into(),
                    examples: vec!["something else".into()],
                    keywords: vec!["else".into()],
                    priority: IntentPriority::Normal,
                },
            ],
            ClassifierConfig::default(),
        )
        .unwrap();
        // A postcode heard as letters: "SL" is not "slow".
        assert_eq!(c.classify("R M 17 6 S L").intent, None);
        assert_eq!(c.classify("RM17 6 SL").intent, None);
        // A word with a vowel still matches by sound.
        assert_eq!(c.classify("slo").intent.as_deref(), Some("slower"));
    }

    use super::*;

    fn spec(
        name: &str,
        priority: IntentPriority,
        examples: &[&str],
        keywords: &[&str],
    ) -> IntentSpec {
        IntentSpec {
            name: name.to_string(),
            examples: examples.iter().map(|s| s.to_string()).collect(),
            keywords: keywords.iter().map(|s| s.to_string()).collect(),
            priority,
        }
    }

    fn small() -> Classifier {
        let intents = [
            spec(
                "advisor",
                IntentPriority::Always,
                &["talk to a person"],
                &["advisor", "speak to someone"],
            ),
            spec(
                "missed_bin",
                IntentPriority::Normal,
                &["my bin was not collected"],
                &["missed bin"],
            ),
            spec(
                "council_tax_pay",
                IntentPriority::Normal,
                &["pay my council tax"],
                &["pay"],
            ),
            spec(
                "council_tax_balance",
                IntentPriority::Normal,
                &["council tax balance"],
                &["balance", "owe"],
            ),
        ];
        Classifier::new(&intents, ClassifierConfig::default()).expect("valid intents")
    }

    #[test]
    fn intents_the_question_cannot_use_neither_win_nor_block() {
        let c = small();
        let all = c.classify("pay my council tax balance");
        assert_eq!(
            all.intent, None,
            "ambiguous between pay and balance: {all:?}"
        );
        let among = c.classify_among("pay my council tax balance", |n| n != "council_tax_balance");
        assert_eq!(
            among.intent.as_deref(),
            Some("council_tax_pay"),
            "{among:?}"
        );
        let none = c.classify_among("talk to a person", |n| n == "missed_bin");
        assert_eq!(none.intent, None, "{none:?}");
    }

    #[test]
    fn always_intent_wins_inside_a_longer_sentence_and_leads_the_top_list() {
        let result = small().classify("my bin was not collected can I speak to someone about it");
        assert_eq!(result.intent.as_deref(), Some("advisor"));
        assert_eq!(result.top.first().map(|t| t.0.as_str()), Some("advisor"));
        assert!(result.confidence >= ALWAYS_CONFIDENCE);
    }

    #[test]
    fn always_keyword_tolerates_one_inserted_word() {
        assert_eq!(
            small()
                .classify("could I speak to someone please")
                .intent
                .as_deref(),
            Some("advisor")
        );
        assert_eq!(
            small()
                .classify("speak urgently to someone")
                .intent
                .as_deref(),
            Some("advisor")
        );
    }

    #[test]
    fn sound_alike_words_match() {
        assert_eq!(
            small().classify("council tacks balance").intent.as_deref(),
            Some("council_tax_balance")
        );
        assert_eq!(
            small().classify("mis bin").intent.as_deref(),
            Some("missed_bin")
        );
    }

    /// A classifier of `intent` and a street-light intent whose two words it knows.
    fn beside_street_light(intent: IntentSpec) -> Classifier {
        let street_light = spec(
            "street_light",
            IntentPriority::Normal,
            &["the street light is out"],
            &["street light"],
        );
        Classifier::new(&[intent, street_light], ClassifierConfig::default())
            .expect("valid intents")
    }

    /// A word the recogniser split in two, heard as two other words: "know where" is
    /// "nowhere" (a homelessness keyword), while two words the intents know stay two words.
    #[test]
    fn a_split_word_heard_as_two_others_is_matched_by_sound() {
        let c = beside_street_light(spec(
            "homeless",
            IntentPriority::Normal,
            &["I have nowhere to live"],
            &["nowhere", "homeless"],
        ));
        let heard = c.classify("I have been told to leave and I can't know where to stay");
        assert_eq!(heard.intent.as_deref(), Some("homeless"), "{heard:?}");
        assert_eq!(
            c.classify("the street light is broken").intent.as_deref(),
            Some("street_light")
        );
    }

    /// Two vocabulary words heard run together are both heard: "binmen" is "bin men".
    #[test]
    fn words_heard_run_together_are_split() {
        let c = beside_street_light(spec(
            "missed_bin",
            IntentPriority::Normal,
            &["the bin men did not come"],
            &["missed"],
        ));
        let heard = c.classify("the binmen never came this morning");
        assert_eq!(heard.intent.as_deref(), Some("missed_bin"), "{heard:?}");
        // A word the intents know is never split.
        assert_eq!(
            c.classify("streetlight").intent.as_deref(),
            Some("street_light")
        );
    }

    /// A keyword whose words another intent's examples use too ("collected" for a missed
    /// bin; "can you collect an old sofa" is bulky waste) lifts less than one only its own
    /// intent uses ("fridge"), so it does not tie with it.
    #[test]
    fn a_keyword_other_intents_also_say_counts_less() {
        let intents = [
            spec(
                "missed_bin",
                IntentPriority::Normal,
                &["my bin was not collected"],
                &["collected", "missed"],
            ),
            spec(
                "bulky_waste",
                IntentPriority::Normal,
                &["collect an old sofa"],
                &["fridge", "sofa"],
            ),
        ];
        let c = Classifier::new(&intents, ClassifierConfig::default()).expect("valid intents");
        let heard = c.classify("and you collect and hold so thin and a fridge");
        assert_eq!(heard.intent.as_deref(), Some("bulky_waste"), "{heard:?}");
        // The shared keyword lifts missed bin only to the plain keyword floor: a clear gap,
        // where a lift as large as "fridge" left them within 0.07 of each other.
        let missed = heard
            .top
            .iter()
            .find(|(name, _)| name == "missed_bin")
            .map_or(0.0, |t| t.1);
        assert!(heard.confidence - missed >= 0.1, "{heard:?}");
        assert_eq!(
            c.classify("my bin was not collected").intent.as_deref(),
            Some("missed_bin")
        );
    }

    #[test]
    fn words_outside_the_vocabulary_are_no_match() {
        let result = small().classify("lovely weather");
        assert_eq!(result.intent, None);
        assert!(result.confidence < 0.45);
    }

    #[test]
    fn ambiguous_answers_within_the_margin_are_no_match() {
        let intents = [
            spec("a", IntentPriority::Normal, &["red"], &["red"]),
            spec("b", IntentPriority::Normal, &["blue"], &["blue"]),
        ];
        let config = ClassifierConfig {
            no_match_threshold: 0.3,
            margin: 0.05,
        };
        let classifier = Classifier::new(&intents, config).expect("valid intents");
        assert_eq!(classifier.classify("red").intent.as_deref(), Some("a"));
        assert_eq!(classifier.classify("red blue").intent, None);
    }

    #[test]
    fn settings_outside_zero_to_one_are_rejected() {
        let intents = [spec("a", IntentPriority::Normal, &["red"], &[])];
        let bad = ClassifierConfig {
            no_match_threshold: 0.5,
            margin: -0.1,
        };
        assert_eq!(
            Classifier::new(&intents, bad).err(),
            Some(NluError::InvalidSetting {
                name: "margin",
                value: -0.1
            })
        );
        let nan = ClassifierConfig {
            no_match_threshold: f32::NAN,
            margin: 0.1,
        };
        assert!(Classifier::new(&intents, nan).is_err());
    }

    #[test]
    fn occurs_matches_in_order_with_gaps() {
        let phrase: Vec<String> = ["speak", "to", "someone"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(occurs(&["i", "speak", "to", "someone"], &phrase, 0));
        assert!(!occurs(&["speak", "now", "to", "someone"], &phrase, 0));
        assert!(occurs(&["speak", "now", "to", "someone"], &phrase, 1));
        assert!(!occurs(&["someone", "to", "speak"], &phrase, 1));
        assert!(!occurs(&[], &phrase, 1));
    }
}
