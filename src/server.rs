//! The thin tokio driver: owns the SIP sockets and spawns one task per call.
pub fn run(_c: crate::config::Config) -> Result<(), std::io::Error> {
    Ok(())
}
