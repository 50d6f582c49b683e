//! `export --asciicast` and `import tmux` through the real binary, its daemon and a real tmux.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Home, stderr};

#[test]
fn asciicast_export_keeps_the_output_and_its_pacing() {
    let home = Home::new();
    let command = "printf 'A%sA\\n' first; sleep 0.5; printf 'B%sB\\n' second";
    let out = home.run(&["exec", "-s", "rec", "--", command]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let out = home.run(&["exec", "-s", "rec", "--", "echo third-$((2+3))"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));

    let cast = home.path().join("rec.cast");
    let (summary, out) = home.json(&[
        "export",
        "-s",
        "rec",
        "--asciicast",
        cast.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(summary["events"].as_u64().unwrap() >= 2, "{summary}");

    let file = std::fs::read_to_string(&cast).unwrap();
    let mut lines = file.lines();
    let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2, "{header}");
    assert_eq!(header["width"], 200, "{header}");
    assert_eq!(header["height"], 50, "{header}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let timestamp = header["timestamp"].as_u64().unwrap();
    assert!(now.abs_diff(timestamp) < 600, "{header}");
    assert_eq!(header["env"]["TERM"], "xterm-256color", "{header}");

    // Concatenate the events, remembering the time of each character.
    let mut text = String::new();
    let mut times = Vec::new();
    let mut last = 0.0;
    for line in lines {
        let event: Value = serde_json::from_str(line).unwrap();
        let time = event[0].as_f64().unwrap();
        assert_eq!(event[1], "o", "{event}");
        assert!(time >= last, "times go back: {last} then {time}");
        last = time;
        let data = event[2].as_str().unwrap();
        text.push_str(data);
        times.extend(std::iter::repeat_n(time, data.len()));
    }
    let at = |needle: &str| {
        times[text
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} in {text:?}"))]
    };
    assert!(text.contains("third-5"), "{text:?}");
    let gap = at("BsecondB") - at("AfirstA");
    assert!(
        (0.45..5.0).contains(&gap),
        "gap {gap} between the two printfs"
    );
    assert!(at("third-5") >= at("BsecondB"));

    // When asciinema is installed, it reads the file back to the same output (not required).
    if let Ok(played) = Command::new("asciinema").arg("cat").arg(&cast).output()
        && played.status.success()
    {
        assert_eq!(String::from_utf8_lossy(&played.stdout), text);
    }
}

/// A private tmux server, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(session: &str, cwd: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("ais-import-{}", std::process::id()),
        };
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "120",
            "-y",
            "30",
            "-c",
            cwd,
            "bash --norc --noprofile",
        ]);
        assert!(out.status.success(), "tmux: {}", stderr(&out));
        tmux
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn wait_for(&self, target: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.run(&["capture-pane", "-p", "-t", target]);
            if String::from_utf8_lossy(&out.stdout).contains(needle) {
                return;
            }
            assert!(Instant::now() < deadline, "{needle} never showed in tmux");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn import_tmux_adopts_the_panes_scrollback_and_cwd() {
    let home = Home::new();
    let tmux = Tmux::start("src", "/tmp");
    let out = tmux.run(&["send-keys", "-t", "src", "echo imported-$((6*7))", "Enter"]);
    assert!(out.status.success(), "tmux: {}", stderr(&out));
    tmux.wait_for("src", "imported-42");

    let (adopted, out) = home.json(&[
        "import",
        "tmux",
        "-L",
        &tmux.socket,
        "-t",
        "src",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(adopted[0]["session"], "tmux-src", "{adopted}");
    assert_eq!(adopted[0]["cwd"], "/tmp", "{adopted}");

    let (list, _) = home.json(&["ls", "--format", "json"]);
    let session = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "tmux-src")
        .unwrap_or_else(|| panic!("tmux-src in {list}"));
    assert_eq!(session["cwd"], "/tmp", "{session}");
    assert_eq!(session["cols"], 120, "{session}");

    let out = home.run(&["read", "-s", "tmux-src"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("imported-42"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The adopted session is a working shell in the pane's directory.
    let out = home.run(&["exec", "-s", "tmux-src", "--", "pwd"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("/tmp"));

    // The adopted scrollback is journaled like the shell's own: it survives a daemon restart.
    assert!(home.run(&["kill-server"]).status.success());
    let out = home.run(&["read", "-s", "tmux-src"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("imported-42"), "after restart: {text}");
    assert!(text.contains("/tmp"), "pwd output after restart: {text}");

    // Importing again clashes on the name and says so.
    let out = home.run(&["import", "tmux", "-L", &tmux.socket, "-t", "src"]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    assert!(stderr(&out).contains("tmux-src"), "{}", stderr(&out));
}
