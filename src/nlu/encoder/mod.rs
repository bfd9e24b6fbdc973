//! Sentence embeddings: what lets the classifier recognise phrasings no example spells out
//! ("the bin men never came" near "my bin wasn't collected").
//!
//! [`SentenceEncoder`] is the engine seam (a second model is a new file beside [`bert`]);
//! [`Embedder`] is what the rest of the product holds: an encoder with a bounded memo of recent
//! sentences, so that a transcript embedded on a recogniser thread costs the call's media
//! thread a lookup, not a forward pass. [`install`] puts the pinned model in place at set-up;
//! [`Embedder::load_installed`] is the only file access at run time, once, at start-up.
//!
//! Owns: the model files' pins and loading. Must not: download at run time, know about flows.

pub mod bert;
pub mod install;
mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

pub use bert::BertEncoder;
pub use install::{ENCODER_DIR, EncoderInstall, install, verify};

/// Why an encoder could not be installed, loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file} sha256 is {actual}, expected {expected}")]
    HashMismatch {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("{0} is not installed (run `frontdoor model install`)")]
    Missing(PathBuf),
    #[error("sentence model: {0}")]
    Model(String),
    #[error("installing: {0}")]
    Install(#[from] crate::asr::model::ModelError),
}

/// Turns sentences into unit-length vectors whose dot product is their closeness in meaning.
pub trait SentenceEncoder: Send + Sync + std::fmt::Debug {
    /// One vector per text, in order, each of unit length.
    fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncoderError>;
    /// The model's name, for logs.
    fn name(&self) -> &str;
}

/// A sentence embedding, shared between the memo and its users.
pub type Embedding = Arc<[f32]>;

/// Environment variable naming the sentence model directory for the designer tools.
pub const TOOLS_MODEL_ENV: &str = "FRONTDOOR_SENTENCE_MODEL";

/// Recent sentences kept: far more than the transcripts in flight at once (one or two per
/// talking caller); when full the memo starts again rather than tracking ages.
const RECENT_CAPACITY: usize = 2048;

/// An encoder with a memo of what it has embedded: examples (kept for the process's life, a
/// flow version is rebuilt from the same sentences) and recent transcripts (bounded).
#[derive(Debug)]
pub struct Embedder {
    encoder: Box<dyn SentenceEncoder>,
    examples: Mutex<HashMap<String, Embedding>>,
    recent: Mutex<HashMap<String, Embedding>>,
    /// Where the examples' embeddings are kept between runs, and the model they are of.
    store: Option<(PathBuf, String)>,
}

impl Embedder {
    pub fn new(encoder: Box<dyn SentenceEncoder>) -> Embedder {
        Embedder {
            encoder,
            examples: Mutex::new(HashMap::new()),
            recent: Mutex::new(HashMap::new()),
            store: None,
        }
    }

    /// Keeps the examples' embeddings in `path` between runs (read now, rewritten when new
    /// examples are embedded): a server restart or a designer's `validate` then embeds only
    /// what changed. An unreadable or foreign file is ignored; a failed write only costs time.
    /// `model` identifies the weights: vectors another model made are never used.
    pub fn with_store(mut self, path: PathBuf, model: &str) -> Embedder {
        if let Some(known) = store::read(&path, model) {
            lock(&self.examples).extend(known);
        }
        self.store = Some((path, model.to_string()));
        self
    }

    /// Loads the installed model in `dir` after checking every file against its pin.
    pub fn load_installed(dir: &Path) -> Result<Embedder, EncoderError> {
        let dir = verify(dir)?;
        let store = dir.join(store::FILE);
        Ok(Embedder::new(Box::new(BertEncoder::load(&dir)?))
            .with_store(store, install::WEIGHTS_SHA256))
    }

    /// The installed model, or `None` with a warning saying why: understanding then runs on
    /// keywords and examples' words alone, as it did before embeddings.
    pub fn load_or_warn(dir: &Path) -> Option<Arc<Embedder>> {
        if dir.as_os_str().is_empty() {
            tracing::info!(
                "no sentence model configured: understanding by keywords and example words"
            );
            return None;
        }
        match Embedder::load_installed(dir) {
            Ok(e) => {
                tracing::info!(model = e.name(), "sentence model loaded");
                Some(Arc::new(e))
            }
            Err(e) => {
                tracing::warn!(
                    "sentence model unavailable, understanding uses keywords and example words only: {e}"
                );
                None
            }
        }
    }

    /// The sentence model for the designer tools (`validate`, `simulate`, `test`), loaded once
    /// per process: `FRONTDOOR_SENTENCE_MODEL`, else `models/all-minilm-l6-v2` under the
    /// current directory (the server's default). The error says why it is not used.
    pub fn for_tools() -> Result<Arc<Embedder>, String> {
        static TOOLS: OnceLock<Result<Arc<Embedder>, String>> = OnceLock::new();
        TOOLS
            .get_or_init(|| {
                let dir = std::env::var_os(TOOLS_MODEL_ENV)
                    .map(PathBuf::from)
                    .unwrap_or_else(|| Path::new("models").join(ENCODER_DIR));
                Embedder::load_installed(&dir)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }

    pub fn name(&self) -> &str {
        self.encoder.name()
    }

    /// One sentence's embedding, from the memo when it was embedded before.
    pub fn embed(&self, text: &str) -> Result<Embedding, EncoderError> {
        let key = memo_key(text);
        if let Some(v) = lock(&self.recent)
            .get(&key)
            .or(lock(&self.examples).get(&key))
        {
            return Ok(Arc::clone(v));
        }
        let v: Embedding = self
            .encoder
            .encode(&[key.as_str()])?
            .into_iter()
            .next()
            .ok_or_else(|| EncoderError::Model("no vector returned".into()))?
            .into();
        let mut recent = lock(&self.recent);
        if recent.len() >= RECENT_CAPACITY {
            recent.clear();
        }
        recent.insert(key, Arc::clone(&v));
        Ok(v)
    }

    /// Embeds a transcript ahead of its use (called on a recogniser thread); errors are left
    /// for the user to meet.
    pub fn prepare(&self, text: &str) {
        let _ = self.embed(text);
    }

    /// Embeddings of many sentences (a flow's examples), batched, kept for the process's life.
    pub fn embed_examples(&self, texts: &[String]) -> Result<Vec<Embedding>, EncoderError> {
        let keys: Vec<String> = texts.iter().map(|t| memo_key(t)).collect();
        let missing: Vec<&str> = {
            let known = lock(&self.examples);
            let mut m: Vec<&str> = keys
                .iter()
                .filter(|k| !known.contains_key(*k))
                .map(String::as_str)
                .collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        // One sentence per pass, as a caller's words are: a padded batch gives vectors that
        // differ in the last bits with the batch's make-up, and an example's vector must not
        // depend on which others happened to be embedded with it (a borderline answer would
        // be understood differently after a restart).
        for text in &missing {
            let v = self
                .encoder
                .encode(&[text])?
                .into_iter()
                .next()
                .ok_or_else(|| EncoderError::Model("no vector returned".into()))?;
            lock(&self.examples).insert((*text).to_string(), v.into());
        }
        let known = lock(&self.examples);
        if !missing.is_empty()
            && let Some((path, model)) = &self.store
            && let Err(e) = store::write(path, model, &known)
        {
            tracing::debug!("examples' embeddings not kept for next time: {e}");
        }
        keys.iter()
            .map(|k| {
                known
                    .get(k)
                    .cloned()
                    .ok_or_else(|| EncoderError::Model("example not embedded".into()))
            })
            .collect()
    }
}

/// The memo's key: the sentence as the model sees it (lower case, single spaces).
fn memo_key(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Dot product of two unit vectors: their cosine similarity.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
