//! Placeholder, filled by the platform conversion.
