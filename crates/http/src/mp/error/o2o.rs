//! Placeholder, filled by the o2o conversion.
