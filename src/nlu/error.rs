//! Errors raised while building the understanding models from flow data.
//!
//! Understanding a caller never fails with an error: text that cannot be understood is a
//! no-match (`None`), which the flow handles with reprompts. Only bad configuration is an error.

/// Why a classifier could not be built from the intents a flow declares.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NluError {
    /// A classifier needs at least one intent.
    #[error("no intents declared")]
    NoIntents,
    /// An intent was declared with an empty name.
    #[error("intent #{index} has an empty name")]
    EmptyIntentName { index: usize },
    /// Two intents share a name.
    #[error("intent `{0}` is declared twice")]
    DuplicateIntent(String),
    /// An intent has neither examples nor keywords that survive normalisation.
    #[error("intent `{0}` has no usable examples or keywords")]
    IntentWithoutExamples(String),
    /// A threshold or margin outside 0..=1.
    #[error("classifier setting `{name}` must be between 0 and 1, got {value}")]
    InvalidSetting { name: &'static str, value: f32 },
}
