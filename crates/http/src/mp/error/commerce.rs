//! Placeholder, filled by the commerce conversion.
