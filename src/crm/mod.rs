//! Cases and call records: the `CaseSink` trait, the embedded SQLite store with its outbox,
//! PostgreSQL, and the webhook adapter.
//!
//! Runs off the media path: calls hand cases here over a channel and are told when each is durable.
