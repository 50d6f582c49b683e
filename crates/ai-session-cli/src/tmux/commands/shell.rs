//! Files and shell commands: source-file, run-shell, if-shell.

use super::*;

impl Ctx {
    pub(super) async fn source_file(&mut self, cmd: &Command) -> anyhow::Result<()> {
        for path in &cmd.args {
            let path = if cmd.has('F') {
                self.expand(self.state.as_ref().and_then(|s| s.current()), path)
            } else {
                path.clone()
            };
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    if !cmd.has('n') {
                        Box::pin(self.source_text(&text)).await;
                    }
                }
                Err(_) if cmd.has('q') => {}
                Err(e) => return fail(format!("{path}: {}", io_reason(&e))),
            }
        }
        Ok(())
    }

    pub(super) async fn run_shell(&mut self, cmd: &Command) -> anyhow::Result<()> {
        self.server()?;
        let Some(command) = cmd.arg(0) else {
            return Ok(());
        };
        let t = self.state.as_ref().and_then(|s| s.current());
        let command = self.expand(t, command);
        if cmd.has('C') {
            let words = super::super::config::split_words(&command).or_else(fail)?;
            let inv = super::super::args::parse(&words).map_err(|e| super::super::Failed(e.0))?;
            for c in inv.commands {
                Box::pin(self.execute(c)).await?;
            }
            return Ok(());
        }
        if let Some(delay) = cmd.value('d').and_then(|d| d.parse::<f64>().ok()) {
            tokio::time::sleep(std::time::Duration::from_secs_f64(delay.max(0.0))).await;
        }
        let mut child = tokio::process::Command::new("/bin/sh");
        child
            .arg("-c")
            .arg(&command)
            .stdin(std::process::Stdio::null());
        if cmd.has('b') {
            child
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            child.spawn()?;
            return Ok(());
        }
        let output = child.output().await?;
        use std::io::Write as _;
        self.out.write_all(&output.stdout)?;
        if !output.status.success() {
            return fail(format!(
                "'{command}' returned {}",
                output.status.code().unwrap_or(1)
            ));
        }
        Ok(())
    }

    pub(super) async fn if_shell(&mut self, cmd: &Command) -> anyhow::Result<()> {
        let condition = cmd.arg(0).unwrap_or("").to_owned();
        let t = self.state.as_ref().and_then(|s| s.current());
        let ok = if cmd.has('F') {
            let v = self.expand(t, &condition);
            !v.is_empty() && v != "0"
        } else {
            let expanded = self.expand(t, &condition);
            tokio::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(expanded)
                .status()
                .await
                .is_ok_and(|s| s.success())
        };
        let branch = if ok { cmd.arg(1) } else { cmd.arg(2) };
        if let Some(text) = branch {
            let words = super::super::config::split_words(text).or_else(fail)?;
            let inv = super::super::args::parse(&words).map_err(|e| super::super::Failed(e.0))?;
            for c in inv.commands {
                Box::pin(self.execute(c)).await?;
            }
        }
        Ok(())
    }
}

pub(super) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => e.to_string(),
    }
}
