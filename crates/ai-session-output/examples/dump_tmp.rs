fn main() {
    for e in std::fs::read_dir("/work/shared/corpus").unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "raw") {
            let n = ai_session_output::normalize(&std::fs::read(&p).unwrap());
            std::fs::write(
                format!("/tmp/norm/{}.txt", p.file_stem().unwrap().to_str().unwrap()),
                n,
            )
            .unwrap();
        }
    }
}
