//! Unknown output: no facts beyond the exit status; the digest falls back to
//! head, tail and error-pattern lines.

use super::{Input, Parse};
use crate::ParsedOutput;

pub(crate) fn parse(input: &Input<'_>) -> Parse {
    let status = input.exit_status();
    let headline = format!(
        "{} lines of output{}",
        input.lines.len(),
        input.exit_suffix()
    );
    Parse::new(ParsedOutput::unknown(status), headline)
}
