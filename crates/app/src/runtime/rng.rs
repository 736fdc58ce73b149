//! The one source of randomness: the operating system's in production,
//! seeded in tests so that a failure replays exactly.

use std::sync::Mutex;

use rand::{RngCore as _, SeedableRng as _};

const ALPHANUMERIC: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Where random bytes come from.
pub struct Rng {
    seeded: Option<Mutex<rand::rngs::StdRng>>,
}

impl std::fmt::Debug for Rng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.seeded.is_some() { "Rng(seeded)" } else { "Rng(os)" })
    }
}

impl Rng {
    /// The operating system's randomness (through aws-lc).
    pub fn os() -> Rng {
        Rng { seeded: None }
    }

    /// A deterministic generator, for tests only.
    pub fn seeded(seed: u64) -> Rng {
        Rng { seeded: Some(Mutex::new(rand::rngs::StdRng::seed_from_u64(seed))) }
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&self, buf: &mut [u8]) {
        match &self.seeded {
            None => koudai_protocol::crypto::fill_random(buf),
            // A test generator poisoned by a panicking test is still a
            // generator; its state is never half-written.
            Some(m) => m.lock().unwrap_or_else(std::sync::PoisonError::into_inner).fill_bytes(buf),
        }
    }

    pub fn bytes<const N: usize>(&self) -> [u8; N] {
        let mut b = [0u8; N];
        self.fill(&mut b);
        b
    }

    /// `len` letters and digits (62 symbols, unbiased).
    pub fn token(&self, len: usize) -> String {
        let mut out = String::with_capacity(len);
        while out.len() < len {
            for b in self.bytes::<64>() {
                // 248 = 4 × 62: rejecting the rest keeps every symbol equally likely.
                if b < 248 && out.len() < len {
                    out.push(char::from(ALPHANUMERIC.get(usize::from(b) % 62).copied().unwrap_or(b'0')));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_length_and_alphabet_asked_for() {
        let rng = Rng::os();
        for len in [0, 1, 12, 32, 100] {
            let t = rng.token(len);
            assert_eq!(t.len(), len);
            assert!(t.bytes().all(|b| ALPHANUMERIC.contains(&b)));
        }
        assert_ne!(rng.token(32), rng.token(32));
    }

    #[test]
    fn a_seed_replays() {
        assert_eq!(Rng::seeded(7).token(40), Rng::seeded(7).token(40));
        assert_ne!(Rng::seeded(7).token(40), Rng::seeded(8).token(40));
    }
}
