//! Understanding text: the intent classifier and slot parsers (numbers, digits, UK postcodes,
//! dates, yes/no, phone numbers).
//!
//! Pure functions over text; the same code serves typed input in the simulator and transcripts
//! from speech.
