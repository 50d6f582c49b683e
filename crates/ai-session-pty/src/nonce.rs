//! Random tokens for marks and file names.

use rand::Rng;

/// `bytes` random bytes as lowercase hex (from the OS-seeded thread RNG).
pub fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}
