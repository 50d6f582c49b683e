//! The `.cmd` file beside each terminal capture of the corpus (`<name>.raw`): the command
//! line that was run, then `exit=N` (`exit=` alone when the exit code is unknown).
//!
//! ```
//! use ai_session_output::capture::CaptureCommand;
//!
//! let cmd = CaptureCommand::parse("cargo test\nexit=101\n");
//! assert_eq!(cmd.command, "cargo test");
//! assert_eq!(cmd.exit_code, Some(101));
//! assert_eq!(CaptureCommand::parse(&cmd.to_text()), cmd);
//! ```

/// What a `.cmd` file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureCommand {
    /// The command line, as typed at the prompt.
    pub command: String,
    /// Its exit code; `None` when unknown (or the line is missing or unreadable).
    pub exit_code: Option<i32>,
}

impl CaptureCommand {
    /// Reads a `.cmd` file's text. Lenient: a missing line leaves its field empty.
    pub fn parse(text: &str) -> CaptureCommand {
        let mut lines = text.lines();
        let command = lines.next().unwrap_or_default().to_owned();
        let exit_code = lines
            .next()
            .and_then(|line| line.strip_prefix("exit="))
            .and_then(|code| code.trim().parse().ok());
        CaptureCommand { command, exit_code }
    }

    /// The file's text, as [`parse`](Self::parse) reads it.
    pub fn to_text(&self) -> String {
        match self.exit_code {
            Some(code) => format!("{}\nexit={code}\n", self.command),
            None => format!("{}\nexit=\n", self.command),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_exit_and_a_missing_line_read_as_none() {
        assert_eq!(CaptureCommand::parse("make\nexit=\n").exit_code, None);
        assert_eq!(
            CaptureCommand::parse("make"),
            CaptureCommand {
                command: "make".into(),
                exit_code: None
            }
        );
        assert_eq!(CaptureCommand::parse(""), CaptureCommand::default());
        assert_eq!(
            CaptureCommand::parse("go test\nexit= 1\n").exit_code,
            Some(1)
        );
    }
}
