//! ai-session-pty: see README.md.
#![doc = include_str!("../README.md")]
