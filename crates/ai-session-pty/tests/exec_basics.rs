//! exec against real shells: exit codes, cwd, output cut between C and D, forged marks.

use std::time::Duration;

use ai_session_pty::{ExecOptions, ExecState, PtySession, SessionConfig};

fn opts() -> ExecOptions {
    ExecOptions::with_timeout(Duration::from_secs(20))
}

async fn bash() -> PtySession {
    PtySession::spawn(SessionConfig::default())
        .await
        .expect("spawn bash")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace("\r\n", "\n")
}

#[tokio::test]
async fn exit_codes_and_clean_output() {
    let session = bash().await;
    let out = session.exec("echo hello", opts()).await.unwrap();
    assert_eq!(out.state, ExecState::Exited);
    assert_eq!(out.record.exit_code, Some(0));
    assert_eq!(text(&out.output), "hello\n");

    let out = session.exec("false", opts()).await.unwrap();
    assert_eq!(out.record.exit_code, Some(1));
    assert!(out.output.is_empty(), "{:?}", text(&out.output));

    let out = session.exec("(exit 3)", opts()).await.unwrap();
    assert_eq!(out.record.exit_code, Some(3));

    let out = session
        .exec("printf 'a\\nb\\n'; (exit 42)", opts())
        .await
        .unwrap();
    assert_eq!(
        (out.record.exit_code, text(&out.output).as_str()),
        (Some(42), "a\nb\n")
    );

    let history = session.history();
    assert_eq!(history.len(), 4);
    assert_eq!(history[0].command, "echo hello");
    assert!(history.windows(2).all(|w| w[0].id < w[1].id));
    session.kill().await;
}

#[tokio::test]
async fn command_ids_continue_from_first_command_id() {
    // A shell that continues an earlier one's history numbers its commands after it.
    let session = PtySession::spawn(SessionConfig {
        first_command_id: 42,
        ..SessionConfig::default()
    })
    .await
    .expect("spawn bash");
    let first = session.exec("echo one", opts()).await.unwrap();
    let second = session.exec("(exit 2)", opts()).await.unwrap();
    assert_eq!((first.record.id, second.record.id), (42, 43));
    let ids: Vec<u64> = session.history().iter().map(|r| r.id).collect();
    assert_eq!(ids, [42, 43]);
    session.kill().await;
}

#[tokio::test]
async fn cwd_follows_cd() {
    let session = bash().await;
    let out = session.exec("cd /tmp", opts()).await.unwrap();
    assert_eq!(out.record.cwd.as_deref(), Some("/tmp"));
    let out = session.exec("pwd", opts()).await.unwrap();
    assert_eq!(text(&out.output), "/tmp\n");
    assert_eq!(out.record.cwd.as_deref(), Some("/tmp"));
    assert_eq!(session.cwd().as_deref(), Some(std::path::Path::new("/tmp")));
    session.kill().await;
}

#[tokio::test]
async fn forged_marks_do_not_end_a_command() {
    let session = bash().await;
    let cmd = r"printf 'x\033]133;D;0\007y\033]133;D;0;nonce=0000\007z\n'; sleep 0.3; echo after";
    let out = session.exec(cmd, opts()).await.unwrap();
    assert_eq!(out.state, ExecState::Exited);
    assert_eq!(out.record.exit_code, Some(0));
    let output = text(&out.output);
    assert!(output.ends_with("after\n"), "{output:?}");
    assert!(
        output.contains("\x1b]133;D;0\x07"),
        "forged mark must stay as output: {output:?}"
    );
    session.kill().await;
}

#[tokio::test]
async fn real_marks_never_reach_the_reader() {
    let session = bash().await;
    session.exec("echo one; cd /", opts()).await.unwrap();
    let all = session.read(0, usize::MAX);
    let text = String::from_utf8_lossy(&all.data);
    assert!(!text.contains("nonce="), "{text:?}");
    assert!(!text.contains("133;"), "{text:?}");
    assert!(!session.screen().text().contains("133"));
    session.kill().await;
}

#[tokio::test]
async fn exit_ends_the_session_with_its_status() {
    let session = bash().await;
    let out = session.exec("exit 3", opts()).await.unwrap();
    assert_eq!(out.state, ExecState::Exited);
    assert_eq!(out.record.exit_code, Some(3));
    assert!(out.session_exited);
    assert!(!session.is_alive());
}

#[tokio::test]
async fn multi_line_command_is_one_record() {
    let session = bash().await;
    let out = session
        .exec("for i in 1 2; do\n  echo \"n$i\"\ndone\nfalse", opts())
        .await
        .unwrap();
    assert_eq!(text(&out.output), "n1\nn2\n");
    assert_eq!(out.record.exit_code, Some(1));
    assert_eq!(session.history().len(), 1);
    session.kill().await;
}

#[tokio::test]
async fn posix_sh_integration() {
    let session = PtySession::spawn(SessionConfig::new(["sh"])).await.unwrap();
    let out = session.exec("echo hi; (exit 4)", opts()).await.unwrap();
    assert_eq!(
        (out.record.exit_code, text(&out.output).as_str()),
        (Some(4), "hi\n")
    );
    let out = session.exec("cd /tmp && pwd", opts()).await.unwrap();
    assert_eq!(out.record.cwd.as_deref(), Some("/tmp"));
    assert_eq!(text(&out.output), "/tmp\n");
    session.kill().await;
}

#[tokio::test]
async fn zsh_integration_when_installed() {
    let Some(zsh) = which("zsh") else {
        eprintln!("zsh not installed; skipping");
        return;
    };
    let session = PtySession::spawn(SessionConfig::new([zsh])).await.unwrap();
    let out = session.exec("echo hi; (exit 5)", opts()).await.unwrap();
    assert_eq!(
        (out.record.exit_code, text(&out.output).as_str()),
        (Some(5), "hi\n")
    );
    let out = session.exec("cd /tmp && pwd", opts()).await.unwrap();
    assert_eq!(out.record.cwd.as_deref(), Some("/tmp"));
    assert_eq!(text(&out.output), "/tmp\n");
    let out = session.exec("echo a\necho b", opts()).await.unwrap();
    assert_eq!(text(&out.output), "a\nb\n");
    let out = session.exec("read x", opts()).await.unwrap();
    assert_eq!(out.state, ExecState::AwaitingInput);
    session
        .send_keys(&["C-c"], ai_session_pty::UnknownKey::Error)
        .await
        .unwrap();
    let out = session.exec("echo ok", opts()).await.unwrap();
    assert_eq!(text(&out.output), "ok\n");
    session.kill().await;
}

fn which(name: &str) -> Option<String> {
    std::env::var("PATH")
        .ok()?
        .split(':')
        .map(|dir| format!("{dir}/{name}"))
        .find(|p| std::path::Path::new(p).is_file())
}

#[tokio::test]
async fn syntax_errors_and_empty_commands_still_end() {
    let session = bash().await;
    let out = session.exec("echo (", opts()).await.unwrap();
    assert_eq!(out.state, ExecState::Exited);
    assert_eq!(out.record.exit_code, Some(2), "{out:?}");
    assert!(
        text(&out.output).contains("syntax error"),
        "{:?}",
        text(&out.output)
    );
    let out = session.exec("", opts()).await.unwrap();
    assert_eq!(out.state, ExecState::Exited);
    let out = session
        .exec("echo 'it''s' \"$((6*7))\" !x", opts())
        .await
        .unwrap();
    assert_eq!(text(&out.output), "its 42 !x\n", "no history expansion");
    session.kill().await;
}

#[tokio::test]
async fn sh_syntax_errors_still_end() {
    let session = PtySession::spawn(SessionConfig::new(["sh"])).await.unwrap();
    let out = session.exec("echo (", opts()).await.unwrap();
    assert_eq!(out.state, ExecState::Exited);
    assert_eq!(out.record.exit_code, Some(2), "{out:?}");
    let out = session.exec("printf 'a\\nb\\n'", opts()).await.unwrap();
    assert_eq!(text(&out.output), "a\nb\n");
    session.kill().await;
}

#[tokio::test]
async fn half_typed_input_does_not_corrupt_exec() {
    let mut shells = vec!["bash".to_owned(), "sh".to_owned()];
    shells.extend(which("zsh"));
    for shell in shells {
        let session = PtySession::spawn(SessionConfig::new([shell.as_str()]))
            .await
            .unwrap();
        session.wait_ready(Duration::from_secs(10)).await.unwrap();
        session.write(b"garbage-typed-by-hand ").await.unwrap();
        let out = session.exec("echo clean", opts()).await.unwrap();
        assert_eq!(
            (out.record.exit_code, text(&out.output).as_str()),
            (Some(0), "clean\n"),
            "{shell}"
        );
        let out = session.exec("echo again", opts()).await.unwrap();
        assert_eq!(text(&out.output), "again\n", "{shell}");
        assert!(
            !String::from_utf8_lossy(&session.read(0, usize::MAX).data).contains('\x07'),
            "{shell}: no bell"
        );
        session.kill().await;
    }
}

#[tokio::test]
async fn user_rc_only_when_asked_and_integration_survives_it() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join(".bashrc"),
        "export FROM_USER_RC=yes\nPS1='custom> '\nPROMPT_COMMAND='__user_hook=1'\n",
    )
    .unwrap();
    for user_rc in [false, true] {
        let mut config = SessionConfig {
            user_rc,
            ..SessionConfig::default()
        };
        config
            .env
            .insert("HOME".into(), home.path().display().to_string());
        let session = PtySession::spawn(config).await.unwrap();
        let out = session
            .exec("echo \"${FROM_USER_RC:-no}\"; (exit 6)", opts())
            .await
            .unwrap();
        let expected = if user_rc { "yes\n" } else { "no\n" };
        assert_eq!(
            (out.record.exit_code, text(&out.output).as_str()),
            (Some(6), expected)
        );
        if user_rc {
            let out = session.exec("echo \"$__user_hook\"", opts()).await.unwrap();
            assert_eq!(
                text(&out.output),
                "1\n",
                "the user's PROMPT_COMMAND still runs"
            );
            assert!(session.screen().text().contains("custom> "));
        }
        session.kill().await;
    }
}
