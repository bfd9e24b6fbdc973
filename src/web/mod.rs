//! The operator-facing HTTP surface: health, metrics, and later the advisor console and the
//! supervisor dashboard.
