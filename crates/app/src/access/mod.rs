//! Who may do what: [`authz`] decides who may act for whose money (a
//! merchant for itself, a provider for its sub-merchants, with the
//! operator's privileges); [`eligibility`] decides what an official account
//! may do, by the e-commerce rules and the capabilities they grant.

pub mod authz;
pub mod eligibility;
