//! Unknown output: no facts beyond the exit status. The headline says no
//! parser matched; the digest keeps the error, warning and failure lines plus
//! the first and last lines (see `digest::candidates`).

use super::{Input, Parse};
use crate::ParsedOutput;

pub(crate) fn parse(input: &Input<'_>) -> Parse {
    let status = input.exit_status();
    let headline = format!(
        "no parser matched: {} lines of output{}",
        input.lines.len(),
        input.exit_suffix()
    );
    Parse::new(ParsedOutput::unknown(status), headline)
}
