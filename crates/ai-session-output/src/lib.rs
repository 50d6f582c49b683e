//! ai-session-output: see README.md.
#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]
