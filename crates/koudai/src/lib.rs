//! The `koudai` binary: the command line, `koudai serve` as a [`Server`],
//! the sandbox demo world and the benchmark. Everything it runs lives in
//! `koudai-app` (use cases) and `koudai-http` (surfaces).

pub mod bench;
pub mod cli;
pub mod demo;
pub mod server;

pub use server::{Server, ServerConfig};
