//! The tool families of the differential corpus: per family a project, the
//! programs it needs, and its variants (a human command for the PTY, the
//! machine command whose report is the truth, and which facts the human
//! format prints).

use ai_session_output::fidelity::Truth;

use super::Plain;
use super::truth::{self as t, Scope, TESTS};

pub struct Family {
    /// Family name (capture directory).
    pub name: &'static str,
    /// Project directory under `projects/` copied into the work dir ("" for none).
    pub project: &'static str,
    /// Programs that must be on PATH (else the stored captures are replayed).
    pub needs: &'static [&'static str],
    /// bash run in the fresh work dir before each command.
    pub setup: &'static str,
    pub variants: &'static [Variant],
}

pub struct Variant {
    pub name: &'static str,
    /// Typed into the PTY; also the command line the parsers see.
    pub human: &'static str,
    /// Run without a terminal; its report is the truth.
    pub machine: &'static str,
    pub truth: fn(&Plain) -> anyhow::Result<Truth>,
    pub scope: Scope,
    /// Extra environment for both runs.
    pub env: &'static [(&'static str, &'static str)],
}

const fn v(
    name: &'static str,
    human: &'static str,
    machine: &'static str,
    truth: fn(&Plain) -> anyhow::Result<Truth>,
    scope: Scope,
) -> Variant {
    Variant {
        name,
        human,
        machine,
        truth,
        scope,
        env: &[],
    }
}

const ALL_TESTS: Scope = Scope::all(TESTS);

pub static ALL: &[Family] = &[Family {
    name: "pytest",
    project: "pytest",
    needs: &["pytest"],
    setup: "",
    variants: &[
        v(
            "default",
            "pytest",
            "pytest -q --junitxml=truth.xml",
            t::pytest_junit,
            ALL_TESTS,
        ),
        v(
            "quiet",
            "pytest -q",
            "pytest -q --junitxml=truth.xml",
            t::pytest_junit,
            ALL_TESTS,
        ),
        v(
            "verbose",
            "pytest -v",
            "pytest -q --junitxml=truth.xml",
            t::pytest_junit,
            ALL_TESTS,
        ),
        v(
            "color",
            "pytest --color=yes",
            "pytest -q --junitxml=truth.xml",
            t::pytest_junit,
            ALL_TESTS,
        ),
        v(
            "no-color",
            "pytest --color=no -q",
            "pytest -q --junitxml=truth.xml",
            t::pytest_junit,
            ALL_TESTS,
        ),
        v(
            "fail-fast",
            "pytest -x",
            "pytest -x -q --junitxml=truth.xml",
            t::pytest_junit,
            ALL_TESTS,
        ),
        v(
            "tb-short",
            "pytest --tb=short -q",
            "pytest -q --junitxml=truth.xml",
            t::pytest_junit,
            ALL_TESTS,
        ),
    ],
}];
