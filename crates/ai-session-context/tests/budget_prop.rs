//! Property: a packed context never exceeds its budget, and cached counts stay exact, whatever
//! the history, budget and task text (including text whose block boundaries merge into other tokens).

use ai_session_context::{CommandInput, OriginRef, Role, SessionContext, tokens};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Message(u8, String),
    Command(String, i32, Vec<u8>),
    Task(String),
}

fn text() -> impl Strategy<Value = String> {
    // Mix words, punctuation, whitespace runs, newlines and non-ASCII: the cases where BPE
    // pieces straddle the separators between blocks.
    prop::collection::vec(
        prop_oneof![
            "[a-z_]{1,12}",
            Just(" ".to_string()),
            Just("\n".to_string()),
            Just("\n\n".to_string()),
            Just("  ".to_string()),
            "[.:;!?)(\\]\\[{}-]{1,3}",
            "[0-9]{1,5}",
            Just("tests::slugify_spaces".to_string()),
            Just("src/lib.rs:42:9".to_string()),
            Just("é✓漢字🙂".to_string()),
            Just("error[E0425]: cannot find".to_string()),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..4, text()).prop_map(|(role, text)| Step::Message(role, text)),
        4 => (text(), -1i32..3, prop::collection::vec(any::<u8>(), 0..400)).prop_map(|(c, e, o)| Step::Command(c, e, o)),
        3 => (text(), -1i32..3, text()).prop_map(|(c, e, o)| Step::Command(c, e, o.into_bytes())),
        1 => "[a-c]".prop_map(Step::Task),
    ]
}

fn build(steps: &[Step], max_tokens: usize) -> SessionContext {
    let mut ctx = SessionContext::new(max_tokens);
    let mut offset = 0;
    for step in steps {
        match step {
            Step::Message(role, text) => {
                let role =
                    [Role::User, Role::Assistant, Role::System, Role::Tool][usize::from(*role)];
                ctx.add_message(role, text);
            }
            Step::Command(command, exit, output) => {
                let origin = OriginRef {
                    session: "p".into(),
                    record: None,
                    start: offset,
                    end: offset + output.len() as u64,
                };
                offset = origin.end;
                ctx.add_command(CommandInput {
                    command,
                    exit_code: Some(*exit),
                    cwd: Some("/w"),
                    output,
                    origin: Some(&origin),
                });
            }
            Step::Task(id) => {
                if ctx.task_contexts().contains_key(id) {
                    ctx.switch_task(Some(id)).expect("existing task");
                } else {
                    let parent = ctx.current_task().map(|t| t.id.clone());
                    ctx.new_task(id, "fix slugify_spaces", parent.as_deref())
                        .expect("new task");
                    ctx.switch_task(Some(id)).expect("new task");
                }
            }
        }
    }
    ctx
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn packed_context_never_exceeds_budget(
        steps in prop::collection::vec(step(), 0..30),
        max_tokens in 50usize..3000,
        budget in 0usize..1500,
        task in prop::option::of(text()),
    ) {
        let ctx = build(&steps, max_tokens);
        let packed = ctx.context(budget, task.as_deref());
        let exact = tokens::count(&packed.text);
        prop_assert_eq!(packed.tokens, exact);
        prop_assert!(exact <= budget, "{} > {}", exact, budget);
        prop_assert_eq!(ctx.verify_token_counts(), vec![]);
    }

    #[test]
    fn compression_keeps_the_live_context_under_its_threshold(
        steps in prop::collection::vec(step(), 1..30),
        max_tokens in 50usize..3000,
    ) {
        let ctx = build(&steps, max_tokens);
        let threshold = (ctx.compression_threshold() * max_tokens as f64) as usize;
        let entries = ctx.messages();
        // Only system messages and the newest entry are never evicted; beyond those the live
        // total must be under the threshold after every addition.
        let floor: usize = entries
            .iter()
            .enumerate()
            .filter(|(i, e)| e.role == Role::System || *i + 1 == entries.len())
            .map(|(_, e)| e.live_tokens())
            .sum();
        prop_assert!(
            ctx.current_tokens() <= threshold.max(floor),
            "{} > max({}, {})", ctx.current_tokens(), threshold, floor
        );
        prop_assert_eq!(ctx.verify_token_counts(), vec![]);
    }
}
