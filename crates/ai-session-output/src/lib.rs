//! ai-session-output: see README.md.
#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]

mod analyze;
pub mod capture;
mod digest;
pub mod expect;
pub mod fidelity;
mod kind;
mod normalize;
mod parsed;
mod parsers;
pub mod report;
pub mod tokens;

pub use analyze::{Analysis, DigestOptions, analyze};
pub use digest::digest;
pub use kind::{OutputKind, detect_kind};
pub use normalize::normalize;
pub use parsed::*;
pub use parsers::parse_output;
