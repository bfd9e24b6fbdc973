//! Closeness in meaning between a caller's words and each intent's examples: the sentence
//! embeddings of every example, and for an utterance the best cosine per intent with the
//! example that gave it (the call log's "nearest example").

use std::sync::Arc;

use super::encoder::{Embedder, Embedding, EncoderError, cosine};

/// How close an utterance is to one intent.
#[derive(Debug, Clone, PartialEq)]
pub struct Closeness {
    /// Cosine similarity with the nearest example, -1..1.
    pub similarity: f32,
    /// That example's text.
    pub nearest: String,
    /// Mean cosine of the intent's two nearest examples (the nearest alone when it has one).
    pub nearest_two: f32,
}

/// The embedded examples of a flow's intents, in the classifier's intent order.
#[derive(Debug, Clone)]
pub struct SemanticIndex {
    embedder: Arc<Embedder>,
    intents: Vec<Vec<(String, Embedding)>>,
}

impl SemanticIndex {
    /// Embeds every example of every intent, given in the classifier's intent order (keywords
    /// are words, not sentences: they stay with the word scorer).
    pub fn build(embedder: Arc<Embedder>, examples: &[&[String]]) -> Result<Self, EncoderError> {
        let mut intents = Vec::with_capacity(examples.len());
        for list in examples {
            let vectors = embedder.embed_examples(list)?;
            intents.push(list.iter().cloned().zip(vectors).collect());
        }
        Ok(SemanticIndex { embedder, intents })
    }

    pub fn embedder(&self) -> &Arc<Embedder> {
        &self.embedder
    }

    /// Closeness of `text` to each intent (by index), or `None` when it cannot be embedded.
    pub fn closeness(&self, text: &str) -> Option<Vec<Option<Closeness>>> {
        let v = match self.embedder.embed(text) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("sentence model failed, classifying by words only: {e}");
                return None;
            }
        };
        Some(self.closeness_to(&v))
    }

    /// Closeness of an embedded sentence to each intent.
    pub fn closeness_to(&self, v: &[f32]) -> Vec<Option<Closeness>> {
        self.intents
            .iter()
            .map(|examples| {
                let mut sims: Vec<(f32, &String)> = examples
                    .iter()
                    .map(|(text, e)| (cosine(v, e), text))
                    .collect();
                sims.sort_by(|a, b| b.0.total_cmp(&a.0));
                let (similarity, text) = *sims.first()?;
                let second = sims.get(1).map_or(similarity, |s| s.0);
                Some(Closeness {
                    similarity,
                    nearest: text.clone(),
                    nearest_two: (similarity + second) / 2.0,
                })
            })
            .collect()
    }

    /// Each example's closeness to its own intent's other examples and to the nearest example
    /// of another intent: `(intent, example, own, other intent, other)`, for the checker.
    pub fn example_neighbours(&self, names: &[&str]) -> Vec<ExampleNeighbour> {
        let mut out = Vec::new();
        for (i, examples) in self.intents.iter().enumerate() {
            for (j, (text, v)) in examples.iter().enumerate() {
                let own = examples
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| *k != j)
                    .map(|(_, (_, e))| cosine(v, e))
                    .fold(f32::NEG_INFINITY, f32::max);
                let other = self
                    .intents
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| *k != i)
                    .flat_map(|(k, ex)| ex.iter().map(move |(t, e)| (k, t, cosine(v, e))))
                    .max_by(|a, b| a.2.total_cmp(&b.2));
                if let Some((k, other_text, sim)) = other {
                    out.push(ExampleNeighbour {
                        intent: names.get(i).map(|s| s.to_string()).unwrap_or_default(),
                        example: text.clone(),
                        own,
                        other_intent: names.get(k).map(|s| s.to_string()).unwrap_or_default(),
                        other_example: other_text.clone(),
                        other: sim,
                    });
                }
            }
        }
        out
    }
}

/// An example and its nearest neighbours inside and outside its intent.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleNeighbour {
    pub intent: String,
    pub example: String,
    /// Cosine with the closest other example of the same intent (-inf when it is the only one).
    pub own: f32,
    pub other_intent: String,
    pub other_example: String,
    pub other: f32,
}
