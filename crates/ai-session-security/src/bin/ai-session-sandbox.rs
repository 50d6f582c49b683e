//! `ai-session-sandbox`: the sandbox launcher on its own, for tools that embed it without
//! the `ai-session` CLI (and for this crate's tests). Usage:
//! `ai-session-sandbox [__sandbox-exec] [--policy P|--policy-file F] [--workspace DIR] -- COMMAND...`

fn main() {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args
        .first()
        .is_some_and(|a| a == ai_session_security::SANDBOX_EXEC_SUBCOMMAND)
    {
        args.remove(0);
    }
    std::process::exit(ai_session_security::sandbox_exec_main(args));
}
