//! `frontdoor.yaml`, overridden by `FRONTDOOR_*` environment variables and command-line flags.
