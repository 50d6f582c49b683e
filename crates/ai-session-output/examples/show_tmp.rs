fn main() {
    let name = std::env::args().nth(1).unwrap();
    let budget = std::env::args()
        .nth(2)
        .map(|b| b.parse().unwrap())
        .unwrap_or(400);
    let dir = "/work/shared/corpus";
    let cmd = std::fs::read_to_string(format!("{dir}/{name}.cmd")).unwrap();
    let mut l = cmd.lines();
    let command = l.next().unwrap();
    let exit = l
        .next()
        .and_then(|x| x.strip_prefix("exit="))
        .and_then(|x| x.parse().ok());
    let raw = std::fs::read(format!("{dir}/{name}.raw")).unwrap();
    let a = ai_session_output::analyze(
        command,
        &raw,
        &ai_session_output::DigestOptions {
            budget,
            exit_code: exit,
            more_hint: Some("ai-session read -s S --range A..B".into()),
        },
    );
    println!("{}", serde_json::to_string_pretty(&a.parsed).unwrap());
    println!(
        "---- kind {:?} raw {} digest {}",
        a.kind, a.tokens_raw, a.tokens_digest
    );
    println!("{}", a.digest);
}
