//! Values that travel as JSON inside typed results (facts and contexts computed by the lower
//! crates, whose types the protocol crate does not know).

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// `value` as JSON; only a map with non-string keys could fail, which our types never have.
pub(crate) fn to_value<T: Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::internal("encode a result as JSON", e))
}
