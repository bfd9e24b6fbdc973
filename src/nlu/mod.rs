//! Understanding text: the intent classifier and slot parsers (numbers, digits, UK postcodes,
//! dates, yes/no, phone numbers).
//!
//! Pure functions over text; the same code serves typed input in the simulator and transcripts
//! from speech.
//!
//! Owns: [`normalise`], the [`Classifier`] built from a flow's [`IntentSpec`]s, and the slot
//! parsers behind [`parse_slot`] / [`parse_dtmf_slot`]. It holds English-language knowledge
//! (stop words, stemming, number words, common recognition confusions such as for/four) but no
//! council phrases: everything about intents comes from the flow's data. It must not do IO,
//! know about calls, flows or audio, or log personal data. The one exception to "no IO" is
//! [`encoder`], which reads its pinned model files once at start-up.

mod classifier;
pub mod encoder;
mod error;
mod normalise;
pub mod semantic;
mod slots;
mod text;

pub use classifier::{Classification, Classifier, ClassifierConfig, IntentPriority, IntentSpec};
pub use error::NluError;
pub use normalise::normalise;
pub use slots::{
    EnumValue, SlotType, SlotValue, YesNoReply, is_negated, is_question, parse_dtmf_slot,
    parse_slot, yes_no_reply,
};
