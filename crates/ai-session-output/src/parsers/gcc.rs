//! gcc/clang diagnostics (`file:line:col: error: message [-Wflag]`) and make.

/// Whether the text carries gcc-style `file:line:col: error:` diagnostics.
pub(crate) fn looks_like_gcc(text: &str) -> bool {
    text.lines().take(2000).any(|line| {
        (line.contains(": error: ") || line.contains(": warning: "))
            && line
                .split(':')
                .nth(1)
                .is_some_and(|n| n.parse::<u32>().is_ok())
    })
}
