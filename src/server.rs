//! The thin tokio driver: owns the SIP sockets and spawns one task per call.
