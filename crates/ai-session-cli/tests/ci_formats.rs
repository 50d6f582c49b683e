//! `exec --format junit|github` through the real binary: a failing unittest run becomes JUnit
//! test cases and GitHub annotations, and the exit code is the command's.

use std::process::Command;

#[test]
fn exec_junit_and_github_from_a_failing_test_run() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let project = dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(
        project.join("test_math.py"),
        "import unittest\n\nclass MathTest(unittest.TestCase):\n    def test_ok(self):\n        self.assertEqual(2, 2)\n\n    def test_broken(self):\n        self.assertEqual(1 + 1, 3, 'math is broken')\n\nif __name__ == '__main__':\n    unittest.main()\n",
    )
    .unwrap();
    let run = |format: &str| {
        Command::new(env!("CARGO_BIN_EXE_ai-session"))
            .args(["exec", "--format", format, "--"])
            .arg(format!(
                "cd {} && python3 -m unittest -v test_math",
                project.display()
            ))
            .env("AI_SESSION_HOME", &home)
            .output()
            .unwrap()
    };

    let junit = run("junit");
    let xml = String::from_utf8(junit.stdout).unwrap();
    assert_eq!(junit.status.code(), Some(1), "{xml}");
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
    assert!(xml.contains("name=\"test_broken\""), "{xml}");
    assert!(xml.contains("math is broken"), "{xml}");

    let github = run("github");
    let text = String::from_utf8(github.stdout).unwrap();
    assert_eq!(github.status.code(), Some(1), "{text}");
    let annotation = text
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("no annotation in {text}"));
    assert!(annotation.contains("test_broken"), "{annotation}");
    assert!(
        annotation.contains("file=") && annotation.contains("test_math.py"),
        "{annotation}"
    );

    let ok = Command::new(env!("CARGO_BIN_EXE_ai-session"))
        .args(["exec", "--format", "github", "--", "true"])
        .env("AI_SESSION_HOME", &home)
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&ok.stdout).contains("::error"));

    Command::new(env!("CARGO_BIN_EXE_ai-session"))
        .arg("kill-server")
        .env("AI_SESSION_HOME", &home)
        .output()
        .unwrap();
}
