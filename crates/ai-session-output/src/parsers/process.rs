//! Process listings: ps (any column set with PID and COMMAND/CMD) and top -b.

use super::table::{number, split_fields};
use super::util::count_before;
use super::{Input, Parse, Priority};
use crate::{MAX_ITEMS, OutputKind, ParsedOutput, Process, ProcessReport, TopProcess};

/// Rows with the highest CPU kept in the digest.
const TOP_ROWS: usize = 5;
/// Rows in the compact table.
const COMPACT_ROWS: usize = 40;

fn is_header(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    words.contains(&"PID")
        && words
            .iter()
            .any(|w| matches!(*w, "COMMAND" | "CMD" | "COMM" | "ARGS"))
}

pub(crate) fn parse(input: &Input<'_>, kind: OutputKind) -> Parse {
    let lines = &input.lines;
    let format = if kind == OutputKind::Top {
        "top".to_owned()
    } else {
        ps_format(input.command)
    };
    let mut report = ProcessReport {
        format,
        ..ProcessReport::default()
    };
    let mut keep = Vec::new();
    let header_at = lines.iter().position(|l| is_header(l));
    if kind == OutputKind::Top {
        top_summary(
            lines,
            header_at.unwrap_or(lines.len()),
            &mut report,
            &mut keep,
        );
    }
    let mut rows: Vec<(usize, f64)> = Vec::new();
    if let Some(header_at) = header_at {
        keep.push((header_at, Priority::Must));
        let columns: Vec<&str> = lines[header_at].split_whitespace().collect();
        let col = |name: &str| columns.iter().position(|c| *c == name);
        let pid_col = col("PID");
        let user_col = col("USER").or(col("UID"));
        let cpu_col = col("%CPU").or(col("C"));
        let mem_col = col("%MEM");
        for (index, line) in lines.iter().enumerate().skip(header_at + 1) {
            if line.trim().is_empty() {
                continue;
            }
            let fields = split_fields(line, columns.len());
            let Some(pid) = pid_col
                .and_then(|c| fields.get(c))
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            report.count += 1;
            let cpu = cpu_col.and_then(|c| fields.get(c)).and_then(|v| number(v));
            rows.push((index, cpu.unwrap_or(0.0)));
            let command = fields.last().copied().unwrap_or_default().to_owned();
            if let Some(cpu) = cpu
                && report.top_cpu.as_ref().is_none_or(|top| cpu > top.cpu)
            {
                report.top_cpu = Some(TopProcess {
                    pid,
                    command: command.clone(),
                    cpu,
                });
            }
            if report.processes.len() < MAX_ITEMS {
                report.processes.push(Process {
                    pid,
                    user: user_col
                        .and_then(|c| fields.get(c))
                        .map(|u| (*u).to_owned()),
                    cpu,
                    mem: mem_col.and_then(|c| fields.get(c)).and_then(|v| number(v)),
                    command,
                });
            }
        }
    }
    // Raw rows are wide (USER, VSZ, TTY...); the digest shows a compact
    // table instead and raw rows only as filler.
    for (index, _) in &rows {
        keep.push((*index, Priority::Normal));
    }
    let mut compact: Vec<&Process> = report.processes.iter().collect();
    compact.sort_by(|a, b| b.cpu.unwrap_or(0.0).total_cmp(&a.cpu.unwrap_or(0.0)));
    let mut notes = Vec::new();
    if !compact.is_empty() {
        notes.push(("PID %CPU %MEM COMMAND (by CPU)".to_owned(), Priority::Must));
    }
    for (rank, process) in compact.iter().take(COMPACT_ROWS).enumerate() {
        let pct = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
        let command: String = process.command.chars().take(80).collect();
        let text = format!(
            "{} {} {} {command}",
            process.pid,
            pct(process.cpu),
            pct(process.mem)
        );
        notes.push((
            text,
            if rank < TOP_ROWS {
                Priority::Must
            } else {
                Priority::High
            },
        ));
    }
    let busiest = report
        .top_cpu
        .as_ref()
        .map(|t| {
            let program = t.command.split_whitespace().next().unwrap_or_default();
            let program = program.rsplit('/').next().unwrap_or(program);
            format!("; busiest pid {} ({}% CPU) {program}", t.pid, t.cpu)
        })
        .unwrap_or_default();
    let headline = format!(
        "{}: {} processes{busiest}{}",
        report.format,
        report.count,
        input.exit_suffix()
    );
    let mut parse = Parse::with_kept(ParsedOutput::ProcessList(report), headline, keep);
    for (text, priority) in notes {
        parse.note(text, priority);
    }
    parse
}

/// `ps aux`, `ps -ef`: the command as typed, from `ps` on.
fn ps_format(command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    let start = words
        .iter()
        .position(|w| w.rsplit('/').next() == Some("ps"))
        .unwrap_or(0);
    words[start..]
        .iter()
        .take_while(|w| !matches!(**w, "|" | "&&" | ";" | ">"))
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// top's summary block: load, tasks, memory.
fn top_summary(
    lines: &[&str],
    end: usize,
    report: &mut ProcessReport,
    keep: &mut Vec<(usize, Priority)>,
) {
    for (index, line) in lines.iter().enumerate().take(end) {
        if line.trim().is_empty() {
            continue;
        }
        keep.push((index, Priority::Must));
        if let Some((_, load)) = line.split_once("load average: ") {
            report.load_average = load
                .split(',')
                .filter_map(|v| v.trim().parse().ok())
                .collect();
        } else if let Some(rest) = line.strip_prefix("Tasks:") {
            report.running = count_before(rest, "running");
            report.sleeping = count_before(rest, "sleeping");
            report.stopped = count_before(rest, "stopped");
            report.zombie = count_before(rest, "zombie");
        } else if let Some((unit, rest)) = line.split_once(" Mem :") {
            let total = split_fields(rest, 2)
                .first()
                .and_then(|v| v.parse::<f64>().ok());
            let factor = match unit.trim() {
                "KiB" => 1.0 / 1024.0,
                "GiB" => 1024.0,
                _ => 1.0,
            };
            report.mem_total_mib = total.map(|t| (t * factor * 10.0).round() / 10.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::split_lines;

    #[test]
    fn ps_ef() {
        let text = "UID          PID    PPID  C STIME TTY          TIME CMD\nroot           1       0  0 10:00 ?        00:00:01 /sbin/init splash\nme          4242       1 12 10:01 pts/0    00:00:09 cargo build --release\n";
        let input = Input {
            command: "ps -ef",
            lines: &split_lines(text),
            exit_code: Some(0),
        };
        let ParsedOutput::ProcessList(report) = parse(&input, OutputKind::Ps).output else {
            panic!("processes expected")
        };
        assert_eq!(report.format, "ps -ef");
        assert_eq!(report.count, 2);
        assert_eq!(report.processes[1].command, "cargo build --release");
        assert_eq!(report.top_cpu.map(|t| t.pid), Some(4242));
    }
}
