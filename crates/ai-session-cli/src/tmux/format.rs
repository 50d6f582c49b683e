//! tmux's `#{variable}` formats, for the variables agent scripts read.

use ai_session::protocol::SessionInfo;

/// What a format can refer to: one session and, where known, its screen.
pub struct FormatContext<'a> {
    pub session: &'a SessionInfo,
    pub cursor: Option<(u16, u16)>,
}

/// Expands `#{name}` and `##`; unknown variables expand to nothing, as in tmux.
pub fn expand(format: &str, ctx: &FormatContext<'_>) -> String {
    let mut out = String::with_capacity(format.len());
    let mut rest = format;
    while let Some(pos) = rest.find('#') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('#') {
            out.push('#');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                out.push_str(&rest[pos..]);
                return out;
            };
            out.push_str(&variable(&body[..end], ctx));
            rest = &body[end + 1..];
        } else {
            out.push('#');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn variable(name: &str, ctx: &FormatContext<'_>) -> String {
    let s = ctx.session;
    if let Some(inner) = name.strip_prefix("t:") {
        return match inner {
            "session_created" => ctime(s.created_at_ms / 1000),
            _ => String::new(),
        };
    }
    match name {
        "session_name" | "pane_title" | "window_name" => s.id.clone(),
        "pane_current_path" => s.cwd.clone().unwrap_or_default(),
        "pane_pid" => s.pid.map(|p| p.to_string()).unwrap_or_default(),
        "pane_width" | "window_width" | "client_width" => s.cols.to_string(),
        "pane_height" | "window_height" | "client_height" => s.rows.to_string(),
        "pane_dead" => u8::from(!s.alive).to_string(),
        "session_created" => (s.created_at_ms / 1000).to_string(),
        "session_windows" | "window_panes" => "1".to_owned(),
        "session_attached" | "window_index" | "pane_index" => "0".to_owned(),
        "pane_active" | "window_active" => "1".to_owned(),
        "pane_id" => "%0".to_owned(),
        "cursor_x" => ctx.cursor.map(|c| c.1.to_string()).unwrap_or_default(),
        "cursor_y" => ctx.cursor.map(|c| c.0.to_string()).unwrap_or_default(),
        _ => String::new(),
    }
}

/// `Wed Nov 25 22:36:42 2026`, the form tmux prints (UTC: the daemon has no time zone data).
pub fn ctime(unix_seconds: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_seconds / 86_400;
    let secs = unix_seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{} {} {day:2} {:02}:{:02}:{:02} {year}",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's civil-from-days algorithm.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> SessionInfo {
        SessionInfo {
            id: "build".into(),
            pid: Some(42),
            shell: "bash".into(),
            cwd: Some("/tmp".into()),
            cols: 80,
            rows: 24,
            created_at_ms: 1_795_000_000_000,
            alive: true,
            commands: 0,
            output_offset: 0,
            owner: None,
            state: ai_session::protocol::SessionState::Idle,
            running: None,
            last_exit_code: None,
            policy: None,
            labels: Default::default(),
        }
    }

    #[test]
    fn expands_variables() {
        let s = session();
        let ctx = FormatContext {
            session: &s,
            cursor: Some((3, 7)),
        };
        for (format, expected) in [
            ("#{pane_current_path}", "/tmp"),
            (
                "#{session_name}:#{pane_width}x#{pane_height}",
                "build:80x24",
            ),
            ("#{cursor_x},#{cursor_y}", "7,3"),
            ("## #{unknown} #x", "#  #x"),
            ("#{unterminated", "#{unterminated"),
        ] {
            assert_eq!(expand(format, &ctx), expected, "{format}");
        }
    }

    #[test]
    fn ctime_matches_tmux() {
        // date -u -d @1795000000 '+%a %b %e %H:%M:%S %Y'
        assert_eq!(ctime(1_795_000_000), "Wed Nov 18 11:06:40 2026");
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(ctime(951_782_400), "Tue Feb 29 00:00:00 2000");
    }
}
