//! The context blob (`to_bytes`) saved as `context.bin` through the real `ai-session-persist`
//! store (encrypted and not) and restored: the same packed context comes back.

use ai_session_context::{CommandInput, OriginRef, Role, SessionContext};
use ai_session_persist::{DataKey, Store};

const FAILING_TEST: &[u8] = b"test tests::slugify_spaces ... FAILED\r\n\
thread 'tests::slugify_spaces' panicked at src/lib.rs:42:9:\r\n\
test result: FAILED. 6 passed; 1 failed; 0 ignored\r\n";

fn context() -> SessionContext {
    let mut ctx = SessionContext::new(4_000);
    ctx.add_message(Role::User, "fix the failing test");
    ctx.new_task("fix", "fix slugify_spaces", None)
        .expect("task");
    ctx.switch_task(Some("fix")).expect("switch");
    let origin = OriginRef {
        session: "s1".into(),
        record: Some(1),
        start: 0,
        end: FAILING_TEST.len() as u64,
    };
    ctx.add_command(CommandInput {
        command: "cargo test",
        exit_code: Some(101),
        cwd: Some("/w"),
        output: FAILING_TEST,
        origin: Some(&origin),
    });
    ctx
}

#[test]
fn context_blob_round_trips_through_the_store() {
    for key in [None, Some(DataKey::generate())] {
        let home = tempfile::tempdir().expect("tempdir");
        let store = Store::open(home.path(), key).expect("open store");
        let session = store.session("s1").expect("session store");
        let ctx = context();
        session
            .save_context(&ctx.to_bytes().expect("encode"))
            .expect("save context.bin");
        assert!(session.context_path().is_file());

        let blob = session
            .load_context()
            .expect("load")
            .expect("a saved context");
        let restored = SessionContext::from_bytes(&blob).expect("decode");
        assert_eq!(restored.current_tokens(), ctx.current_tokens());
        assert_eq!(restored.current_task().map(|t| t.id.as_str()), Some("fix"));
        assert_eq!(restored.context(500, None), ctx.context(500, None));
        assert!(restored.verify_token_counts().is_empty());
    }
}

#[test]
fn a_damaged_blob_is_an_error_not_a_panic() {
    let bytes = context().to_bytes().expect("encode");
    let error = SessionContext::from_bytes(&bytes[..bytes.len() / 2]).expect_err("truncated blob");
    assert!(
        error.to_string().contains("cannot decode a saved context"),
        "{error}"
    );
}
