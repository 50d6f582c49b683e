//! tmux's format language (`#{...}`): variables, `#X` aliases, `#{?cond,a,b}`, comparisons,
//! `#{==:a,b}`/`#{||:}`/`#{&&:}`/`#{!:}`, `#{m:glob,s}`, `#{s/a/b/:v}`, `#{=N:v}`, `#{pN:v}`,
//! `#{t:v}`, `#{b:v}`/`#{d:v}`, `#{q:v}`, `#{l:v}`, `#{E:v}`/`#{T:v}`, `#{n:v}`, `#{e|op|:a,b}`
//! and the `S:`/`W:`/`P:` loops, over a resolver that knows the variables.

/// What a format can ask for.
pub trait Resolver {
    /// A variable's value (also an option's, by name); `None` if unknown.
    fn get(&self, name: &str) -> Option<String>;
    /// `#{S:fmt}`/`#{W:fmt}`/`#{P:fmt}`: `fmt` expanded for each session/window/pane.
    fn each(&self, _scope: char, _format: &str) -> String {
        String::new()
    }
}

/// Expands `format`.
pub fn expand(format: &str, resolver: &dyn Resolver) -> String {
    expand_depth(format, resolver, 0)
}

const MAX_DEPTH: usize = 50;

fn expand_depth(format: &str, r: &dyn Resolver, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return String::new();
    }
    let chars: Vec<char> = format.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '#' || i + 1 >= chars.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let next = chars[i + 1];
        match next {
            '#' | ',' | '}' => {
                out.push(next);
                i += 2;
            }
            '{' => match matching_brace(&chars, i + 2) {
                Some(end) => {
                    let inner: String = chars[i + 2..end].iter().collect();
                    out.push_str(&expand_one(&inner, r, depth + 1));
                    i = end + 1;
                }
                None => {
                    out.extend(&chars[i..]);
                    i = chars.len();
                }
            },
            '(' => {
                // #(shell command): not run; tmux runs it in the background anyway and
                // shows nothing the first time.
                let end = chars[i..]
                    .iter()
                    .position(|c| *c == ')')
                    .map_or(chars.len(), |p| i + p + 1);
                i = end;
            }
            _ => {
                let name = match next {
                    'H' => Some("host"),
                    'h' => Some("host_short"),
                    'D' => Some("pane_id"),
                    'P' => Some("pane_index"),
                    'S' => Some("session_name"),
                    'T' => Some("pane_title"),
                    'W' => Some("window_name"),
                    'I' => Some("window_index"),
                    'F' => Some("window_flags"),
                    _ => None,
                };
                match name {
                    Some(name) => out.push_str(&r.get(name).unwrap_or_default()),
                    None => {
                        out.push('#');
                        out.push(next);
                    }
                }
                i += 2;
            }
        }
    }
    out
}

/// Index of the `}` closing a `#{` whose content starts at `start`.
fn matching_brace(chars: &[char], start: usize) -> Option<usize> {
    let mut depth = 0;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '#' if chars.get(i + 1) == Some(&'{') => {
                depth += 1;
                i += 2;
                continue;
            }
            '#' if i + 1 < chars.len() => {
                i += 2;
                continue;
            }
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Splits at top-level commas (not inside `#{...}` or `{...}`, not `#,`).
fn split_top(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut depth = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '#' && i + 1 < chars.len() {
            if chars[i + 1] == '{' {
                depth += 1;
            }
            current.push(c);
            current.push(chars[i + 1]);
            i += 2;
            continue;
        }
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                i += 1;
                continue;
            }
            _ => {}
        }
        current.push(c);
        i += 1;
    }
    parts.push(current);
    parts
}

/// A modifier before the `:` of `#{mod:...}`.
#[derive(Debug, Clone, PartialEq)]
enum Modifier {
    Time,
    Basename,
    Dirname,
    Quote,
    Literal,
    ExpandTwice,
    ExpandTime,
    Length,
    Width,
    Exists,
    Not,
    NotNot,
    Compare(String),
    Match { regex: bool, icase: bool },
    Search,
    Substitute(String, String, bool),
    Trim(i64, Option<String>),
    Pad(i64),
    Math(String, bool, usize),
    Loop(char),
}

/// Parses `mod1;mod2:` at the start; returns the modifiers and the rest.
fn parse_modifiers(text: &str) -> Option<(Vec<Modifier>, &str)> {
    let first = text.chars().next()?;
    if !"tbdqlETnwN!=<>|&CmsSWPpe".contains(first) {
        return None;
    }
    // The first `:` whose prefix is a valid modifier list (arguments of `s/../../` may hold
    // a `:` themselves, so try each in turn).
    for (colon, _) in text.match_indices(':') {
        let spec = &text[..colon];
        if spec.contains("#{") {
            return None;
        }
        if let Some(mods) = parse_spec(spec) {
            return Some((mods, &text[colon + 1..]));
        }
    }
    None
}

fn parse_spec(spec: &str) -> Option<Vec<Modifier>> {
    let mut mods = Vec::new();
    for part in spec.split(';') {
        if part.is_empty() {
            continue;
        }
        let m = match part {
            "t" => Modifier::Time,
            "b" => Modifier::Basename,
            "d" => Modifier::Dirname,
            "q" => Modifier::Quote,
            "l" => Modifier::Literal,
            "E" => Modifier::ExpandTwice,
            "T" => Modifier::ExpandTime,
            "n" => Modifier::Length,
            "w" => Modifier::Width,
            "N" => Modifier::Exists,
            "!" => Modifier::Not,
            "!!" => Modifier::NotNot,
            "C" => Modifier::Search,
            "==" | "!=" | "<" | ">" | "<=" | ">=" | "||" | "&&" => {
                Modifier::Compare(part.to_owned())
            }
            "S" | "W" | "P" => Modifier::Loop(part.chars().next()?),
            _ if part.starts_with("t/") => Modifier::Time,
            "m" => Modifier::Match {
                regex: false,
                icase: false,
            },
            _ if part.starts_with("m/") => Modifier::Match {
                regex: part.contains('r'),
                icase: part.contains('i'),
            },
            _ if part.starts_with('s') && part.len() > 1 => {
                let sep = part[1..].chars().next()?;
                if sep.is_ascii_alphanumeric() {
                    return None;
                }
                let fields: Vec<&str> = part[1 + sep.len_utf8()..].split(sep).collect();
                if fields.len() < 2 {
                    return None;
                }
                let icase = fields.get(2).is_some_and(|f| f.contains('i'));
                Modifier::Substitute(fields[0].to_owned(), fields[1].to_owned(), icase)
            }
            _ if part.starts_with('=') => {
                let body = &part[1..];
                let (n, marker) = match body.strip_prefix('/') {
                    Some(b) => {
                        let mut it = b.splitn(2, '/');
                        let n = it.next()?;
                        (n, it.next().map(|m| m.trim_end_matches('/').to_owned()))
                    }
                    None => (body, None),
                };
                Modifier::Trim(n.parse().ok()?, marker)
            }
            _ if part.starts_with('p') => Modifier::Pad(part[1..].parse().ok()?),
            _ if part.starts_with('e') && part.len() > 1 => {
                let sep = part[1..].chars().next()?;
                let fields: Vec<&str> = part[1 + sep.len_utf8()..].split(sep).collect();
                let op = fields.first()?.to_string();
                let float = fields.get(1).is_some_and(|f| f.contains('f'));
                let prec = fields.get(2).and_then(|p| p.parse().ok()).unwrap_or(2);
                Modifier::Math(op, float, prec)
            }
            _ => return None,
        };
        mods.push(m);
    }
    (!mods.is_empty()).then_some(mods)
}

fn truthy(value: &str) -> bool {
    !value.is_empty() && value != "0"
}

fn expand_one(inner: &str, r: &dyn Resolver, depth: usize) -> String {
    if let Some(cond) = inner.strip_prefix('?') {
        let parts = split_top(cond);
        let mut i = 0;
        while i + 1 < parts.len() {
            let test = &parts[i];
            let value = if test.contains('#') {
                expand_depth(test, r, depth)
            } else {
                r.get(test).unwrap_or_default()
            };
            if truthy(&value) {
                return expand_depth(&parts[i + 1], r, depth);
            }
            i += 2;
        }
        return parts
            .get(i)
            .map(|p| expand_depth(p, r, depth))
            .unwrap_or_default();
    }
    let Some((mods, rest)) = parse_modifiers(inner) else {
        return variable(inner, r, depth);
    };
    if let Some(Modifier::Loop(scope)) = mods.first() {
        return r.each(*scope, rest);
    }
    if mods.contains(&Modifier::Literal) {
        return rest.to_owned();
    }
    if let Some(Modifier::Compare(op)) = mods.iter().find(|m| matches!(m, Modifier::Compare(_))) {
        let parts = split_top(rest);
        let a = expand_depth(parts.first().map_or("", |s| s), r, depth);
        let b = expand_depth(parts.get(1).map_or("", |s| s), r, depth);
        let result = match op.as_str() {
            "==" => a == b,
            "!=" => a != b,
            "<" => a < b,
            ">" => a > b,
            "<=" => a <= b,
            ">=" => a >= b,
            "||" => truthy(&a) || truthy(&b),
            "&&" => truthy(&a) && truthy(&b),
            _ => false,
        };
        return u8::from(result).to_string();
    }
    if let Some(Modifier::Match { regex, icase }) =
        mods.iter().find(|m| matches!(m, Modifier::Match { .. }))
    {
        let parts = split_top(rest);
        let pattern = expand_depth(parts.first().map_or("", |s| s), r, depth);
        let text = expand_depth(parts.get(1).map_or("", |s| s), r, depth);
        let hit = if *regex {
            let pattern = if *icase {
                format!("(?i){pattern}")
            } else {
                pattern
            };
            regex_lite_match(&pattern, &text)
        } else if *icase {
            glob(&pattern.to_lowercase(), &text.to_lowercase())
        } else {
            glob(&pattern, &text)
        };
        return u8::from(hit).to_string();
    }
    if let Some(Modifier::Math(op, float, prec)) =
        mods.iter().find(|m| matches!(m, Modifier::Math(..)))
    {
        let parts = split_top(rest);
        let a: f64 = expand_depth(parts.first().map_or("", |s| s), r, depth)
            .trim()
            .parse()
            .unwrap_or(0.0);
        let b: f64 = expand_depth(parts.get(1).map_or("", |s| s), r, depth)
            .trim()
            .parse()
            .unwrap_or(0.0);
        let (a, b) = if *float {
            (a, b)
        } else {
            (a.trunc(), b.trunc())
        };
        let value = match op.as_str() {
            "+" => a + b,
            "-" => a - b,
            "*" => a * b,
            "/" if b != 0.0 => a / b,
            "m" if b != 0.0 => a % b,
            "==" => f64::from(u8::from(a == b)),
            "!=" => f64::from(u8::from(a != b)),
            "<" => f64::from(u8::from(a < b)),
            ">" => f64::from(u8::from(a > b)),
            "<=" => f64::from(u8::from(a <= b)),
            ">=" => f64::from(u8::from(a >= b)),
            _ => return String::new(),
        };
        return if *float {
            format!("{value:.prec$}")
        } else {
            format!("{}", value.trunc() as i64)
        };
    }
    // Value modifiers apply to a variable (or, after E/T, to an expanded format).
    let mut value = if mods.contains(&Modifier::ExpandTwice) || mods.contains(&Modifier::ExpandTime)
    {
        let once = variable(rest, r, depth);
        expand_depth(&once, r, depth)
    } else if mods.contains(&Modifier::Exists) {
        return u8::from(r.get(rest).is_some()).to_string();
    } else {
        variable(rest, r, depth)
    };
    for m in &mods {
        value = match m {
            Modifier::Time => match value.parse::<u64>() {
                Ok(secs) => ctime(secs),
                Err(_) => value,
            },
            Modifier::Basename => value.rsplit('/').next().unwrap_or("").to_owned(),
            Modifier::Dirname => match value.rfind('/') {
                Some(0) => "/".to_owned(),
                Some(p) => value[..p].to_owned(),
                None => ".".to_owned(),
            },
            Modifier::Quote => quote(&value),
            Modifier::Length => value.chars().count().to_string(),
            Modifier::Width => value.chars().count().to_string(),
            Modifier::Not => u8::from(!truthy(&value)).to_string(),
            Modifier::NotNot => u8::from(truthy(&value)).to_string(),
            Modifier::Substitute(from, to, icase) => substitute(&value, from, to, *icase),
            Modifier::Trim(n, marker) => trim(&value, *n, marker.as_deref()),
            Modifier::Pad(n) => pad(&value, *n),
            Modifier::Search => String::from("0"),
            _ => value,
        };
    }
    value
}

/// A bare variable name, or (when it holds `#`) a format to expand.
fn variable(name: &str, r: &dyn Resolver, depth: usize) -> String {
    if name.contains('#') {
        return expand_depth(name, r, depth);
    }
    r.get(name).unwrap_or_default()
}

fn quote(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if "^$&;|<>(){}[]*?!'\"\\` #~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn substitute(value: &str, from: &str, to: &str, icase: bool) -> String {
    let pattern = if icase {
        format!("(?i){from}")
    } else {
        from.to_owned()
    };
    match regex::Regex::new(&pattern) {
        Ok(re) => re.replace_all(value, to).into_owned(),
        Err(_) => value.to_owned(),
    }
}

fn regex_lite_match(pattern: &str, text: &str) -> bool {
    regex::Regex::new(pattern).is_ok_and(|re| re.is_match(text))
}

fn trim(value: &str, n: i64, marker: Option<&str>) -> String {
    let chars: Vec<char> = value.chars().collect();
    let len = chars.len() as i64;
    if n == 0 || n.abs() >= len {
        return value.to_owned();
    }
    let marker = marker.unwrap_or("");
    if n > 0 {
        let kept: String = chars[..n as usize].iter().collect();
        format!("{kept}{marker}")
    } else {
        let kept: String = chars[(len + n) as usize..].iter().collect();
        format!("{marker}{kept}")
    }
}

fn pad(value: &str, n: i64) -> String {
    let width = n.unsigned_abs() as usize;
    if n >= 0 {
        format!("{value:<width$}")
    } else {
        format!("{value:>width$}")
    }
}

/// fnmatch(3) without flags: `*`, `?`, `[...]`.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob_at(&p, &t)
}

fn glob_at(p: &[char], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('*') => (0..=t.len()).any(|i| glob_at(&p[1..], &t[i..])),
        Some('?') => !t.is_empty() && glob_at(&p[1..], &t[1..]),
        Some('[') => {
            let Some(close) = p.iter().skip(1).position(|c| *c == ']').map(|i| i + 1) else {
                return t.first() == Some(&'[') && glob_at(&p[1..], &t[1..]);
            };
            let Some(&c) = t.first() else { return false };
            let set = &p[1..close];
            let (negate, set) = match set.first() {
                Some('!' | '^') => (true, &set[1..]),
                _ => (false, set),
            };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == '-' {
                    hit |= set[i] <= c && c <= set[i + 2];
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob_at(&p[close + 1..], &t[1..])
        }
        Some('\\') if p.len() > 1 => t.first() == Some(&p[1]) && glob_at(&p[2..], &t[1..]),
        Some(c) => t.first() == Some(c) && glob_at(&p[1..], &t[1..]),
    }
}

/// `Wed Nov 25 22:36:42 2026`, the form tmux prints (UTC: the CLI has no time zone data).
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
    use std::collections::BTreeMap;

    struct Vars(BTreeMap<&'static str, &'static str>);

    impl Resolver for Vars {
        fn get(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| (*v).to_owned())
        }
    }

    fn vars() -> Vars {
        Vars(BTreeMap::from([
            ("session_name", "build"),
            ("pane_width", "80"),
            ("pane_height", "24"),
            ("pane_active", "1"),
            ("pane_dead", "0"),
            ("pane_current_path", "/home/me/src"),
            ("window_name", "bash"),
            ("session_created", "1795000000"),
            ("status-left", "[#S]"),
        ]))
    }

    #[test]
    fn expands_like_tmux() {
        let r = vars();
        for (format, expected) in [
            (
                "#{session_name}:#{pane_width}x#{pane_height}",
                "build:80x24",
            ),
            ("## #{unknown} #x", "#  #x"),
            ("#{unterminated", "#{unterminated"),
            ("#S:#W", "build:bash"),
            ("#{?pane_active,yes,no}", "yes"),
            ("#{?pane_dead,dead,#{pane_width}}", "80"),
            ("#{?#{==:#{pane_width},80},wide,narrow}", "wide"),
            ("#{==:#{session_name},build}", "1"),
            ("#{!=:a,b}#{||:0,1}#{&&:1,0}", "110"),
            (
                "#{b:pane_current_path}|#{d:pane_current_path}",
                "src|/home/me",
            ),
            ("#{=3:session_name}|#{=-3:session_name}", "bui|ild"),
            ("#{s/u/U/:session_name}", "bUild"),
            ("#{m:b*,#{session_name}}#{m:x*,#{session_name}}", "10"),
            ("#{t:session_created}", "Wed Nov 18 11:06:40 2026"),
            ("#{l:#{session_name}}", "#{session_name}"),
            ("#{E:status-left}", "[build]"),
            ("#{e|+|:#{pane_width},1}", "81"),
            ("#{n:session_name}", "5"),
            ("#{p7:session_name}|", "build  |"),
            ("#{?,a,b}#{?pane_dead,a,pane_active,b,c}", "bb"),
        ] {
            assert_eq!(expand(format, &r), expected, "{format}");
        }
    }

    #[test]
    fn ctime_matches_tmux() {
        // date -u -d @1795000000 '+%a %b %e %H:%M:%S %Y'
        assert_eq!(ctime(1_795_000_000), "Wed Nov 18 11:06:40 2026");
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(ctime(951_782_400), "Tue Feb 29 00:00:00 2000");
    }

    #[test]
    fn globs() {
        assert!(glob("a*c", "abbbc"));
        assert!(glob("[ab]?", "bz"));
        assert!(!glob("[!ab]?", "bz"));
    }
}
