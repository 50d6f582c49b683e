//! ai-session-security: see README.md.
#![doc = include_str!("../README.md")]
