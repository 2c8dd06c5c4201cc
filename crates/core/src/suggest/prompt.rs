//! The app's prompt, byte for byte (reference C.4), and date-fns' `formatDistanceToNow(…,
//! {addSuffix: true})` in English for each activity's label.

use chrono::{Datelike, Local, TimeZone, Timelike};
use serde_json::Value;

use super::memory_link::MemoryRef;
use super::stream::StreamItem;
use crate::github::exec::slice_utf16;
use crate::github::sync::js_text;

/// Characters (UTF-16 units) of the activity block, the note and the selection.
pub const MAX_ACTIVITY_CHARS: usize = 4000;
pub const MAX_NOTE_CHARS: usize = 4000;
pub const MAX_SELECTION_CHARS: usize = 2000;
/// Most memory results searched for.
pub const MAX_MEMORY_RESULTS: usize = 100;
/// The separator of the prompt's parts.
pub const SEPARATOR: &str = "\n\n---\n\n";

/// `text.slice(0, max) + "..."` when longer than `max` UTF-16 units.
pub fn truncate(text: &str, max: usize) -> String {
    let cut = slice_utf16(text, max);
    if text.encode_utf16().count() > max {
        format!("{cut}...")
    } else {
        text.to_string()
    }
}

/// The source labels of `activity-config.ts`.
pub fn source_label(source: &str) -> &'static str {
    match source {
        "calendar" => "Calendar",
        "gmail" => "Gmail",
        "jira" => "Jira",
        "confluence" => "Confluence",
        "github" => "GitHub",
        "slack" => "Slack",
        "claude" => "Claude Code",
        _ => "Other",
    }
}

fn local_offset_ms(ms: i64) -> i64 {
    Local
        .timestamp_millis_opt(ms)
        .single()
        .map(|d| i64::from(d.offset().local_minus_utc()) * 1000)
        .unwrap_or(0)
}

/// JS `Math.round` of a non-negative ratio.
fn round(x: f64) -> i64 {
    (x + 0.5).floor() as i64
}

/// date-fns `differenceInMonths(later, earlier)` in local time (calendar months, minus one
/// when the later date's day-and-time has not reached the earlier one's).
fn months_between(later_ms: i64, earlier_ms: i64) -> i64 {
    let (Some(l), Some(e)) = (
        Local.timestamp_millis_opt(later_ms).single(),
        Local.timestamp_millis_opt(earlier_ms).single(),
    ) else {
        return 0;
    };
    let mut months =
        i64::from(l.year() - e.year()) * 12 + i64::from(l.month()) - i64::from(e.month());
    let key = |d: &chrono::DateTime<Local>| {
        (
            d.day(),
            d.hour(),
            d.minute(),
            d.second(),
            d.timestamp_subsec_millis(),
        )
    };
    if months > 0 && key(&l) < key(&e) {
        months -= 1;
    }
    months.max(0)
}

/// `formatDistanceToNow(date, {addSuffix: true})` (date-fns, en-US), at `now_ms`.
pub fn time_label(ts_ms: i64, now_ms: i64) -> String {
    let (later, earlier) = if ts_ms > now_ms {
        (ts_ms, now_ms)
    } else {
        (now_ms, ts_ms)
    };
    // differenceInSeconds truncates toward zero; the offset corrects DST changes.
    let seconds = (later - earlier) / 1000;
    let offset = (local_offset_ms(later) - local_offset_ms(earlier)) / 1000;
    let minutes = round((seconds - offset) as f64 / 60.0);
    let plural = |n: i64, one: &str, many: &str| {
        if n == 1 {
            one.to_string()
        } else {
            many.replace("{}", &n.to_string())
        }
    };
    let text = if minutes < 2 {
        if minutes == 0 {
            "less than a minute".to_string()
        } else {
            plural(minutes, "1 minute", "{} minutes")
        }
    } else if minutes < 45 {
        plural(minutes, "1 minute", "{} minutes")
    } else if minutes < 90 {
        "about 1 hour".to_string()
    } else if minutes < 1440 {
        plural(
            round(minutes as f64 / 60.0),
            "about 1 hour",
            "about {} hours",
        )
    } else if minutes < 2520 {
        "1 day".to_string()
    } else if minutes < 43200 {
        plural(round(minutes as f64 / 1440.0), "1 day", "{} days")
    } else if minutes < 86400 {
        plural(
            round(minutes as f64 / 43200.0),
            "about 1 month",
            "about {} months",
        )
    } else {
        let months = months_between(later, earlier);
        if months < 12 {
            plural(round(minutes as f64 / 43200.0), "1 month", "{} months")
        } else {
            let years = months / 12;
            match months % 12 {
                m if m < 3 => plural(years, "about 1 year", "about {} years"),
                m if m < 9 => plural(years, "over 1 year", "over {} years"),
                _ => plural(years + 1, "almost 1 year", "almost {} years"),
            }
        }
    };
    if ts_ms > now_ms {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// `formatActivitiesAsContext`: one entry per activity joined by `\n`, the whole cut to 4000
/// UTF-16 units + `...`; empty when there is no activity.
pub fn format_activities(items: &[StreamItem], now_ms: i64) -> String {
    let lines: Vec<String> = items
        .iter()
        .map(|a| {
            let url = match a.url.as_deref() {
                Some(u) if !u.is_empty() => format!("\n  URL: {u}"),
                _ => String::new(),
            };
            format!(
                "- [{}] {} ({})\n  {}{url}",
                source_label(&a.source),
                a.title,
                time_label(a.timestamp, now_ms),
                a.description
            )
        })
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    truncate(&lines.join("\n"), MAX_ACTIVITY_CHARS)
}

/// The `[Related Memory]` block's items: `N. [type/source] title\n   snippet`, blank-line
/// separated, never truncated.
pub fn format_memory(refs: &[MemoryRef]) -> String {
    refs.iter()
        .enumerate()
        .map(|(i, r)| {
            let source = match &r.source {
                Value::String(s) => s.replace('_', " "),
                other => js_text(other),
            };
            format!(
                "{}. [{}/{}] {}\n   {}",
                i + 1,
                js_text(&r.kind),
                source,
                js_text(&r.title),
                js_text(&r.snippet)
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// What goes into one prompt.
#[derive(Debug, Clone, Default)]
pub struct PromptInput<'a> {
    pub memory: &'a [MemoryRef],
    /// The formatted activity block ([`format_activities`]).
    pub activity_context: &'a str,
    pub selected_text: Option<&'a str>,
    pub note: Option<&'a str>,
    pub include_note: bool,
    pub request: &'a str,
}

/// The full prompt: memory, activity, selection or note, request; each only when non-empty,
/// joined by `\n\n---\n\n`.
pub fn assemble(input: &PromptInput<'_>) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !input.memory.is_empty() {
        parts.push(format!(
            "[Related Memory]\nThe following are relevant observations from your work journal:\n\n{}",
            format_memory(input.memory)
        ));
    }
    if !input.activity_context.is_empty() {
        parts.push(format!(
            "[Recent Activity Stream]\n{}",
            input.activity_context
        ));
    }
    match (input.selected_text.filter(|s| !s.is_empty()), input.note) {
        (Some(sel), _) => parts.push(format!(
            "[Selected Text]\n{}",
            truncate(sel, MAX_SELECTION_CHARS)
        )),
        (None, Some(note)) if input.include_note && !note.is_empty() => parts.push(format!(
            "[Current Note]\n{}",
            truncate(note, MAX_NOTE_CHARS)
        )),
        _ => {}
    }
    parts.push(format!("[Request]\n{}", input.request));
    parts.join(SEPARATOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn labels_like_date_fns() {
        let now = 1_768_000_000_000;
        let l = |ago: i64| time_label(now - ago, now);
        assert_eq!(l(0), "less than a minute ago");
        assert_eq!(l(29_000), "less than a minute ago");
        assert_eq!(l(30_000), "1 minute ago");
        assert_eq!(l(44 * MIN), "44 minutes ago");
        assert_eq!(l(45 * MIN), "about 1 hour ago");
        assert_eq!(l(89 * MIN), "about 1 hour ago");
        assert_eq!(l(90 * MIN), "about 2 hours ago");
        assert_eq!(l(23 * 60 * MIN), "about 23 hours ago");
        assert_eq!(l(24 * 60 * MIN), "1 day ago");
        assert_eq!(l(3 * 24 * 60 * MIN), "3 days ago");
        assert_eq!(l(29 * 24 * 60 * MIN), "29 days ago");
        assert_eq!(l(30 * 24 * 60 * MIN), "about 1 month ago");
        assert_eq!(time_label(now + 2 * 60 * MIN, now), "in about 2 hours");
    }

    #[test]
    fn truncates_in_utf16_units() {
        assert_eq!(truncate("abcd", 4), "abcd");
        assert_eq!(truncate("abcde", 4), "abcd...");
        assert_eq!(truncate("가나다", 2), "가나...");
    }
}
