//! The activity stream and daily suggestions (CONTRACT.md §19; reference part C).
//!
//! - [`stream`]: the merged activity stream of a local day (calendar, Jira/Confluence, GitHub,
//!   Claude Code sessions) with the app's exact ids, titles, descriptions and URL rules;
//! - [`prompt`]: the app's prompt formatter, byte for byte, and its relative time labels;
//! - [`memory_link`]: the one place that calls into memory (search, GitHub observations);
//! - [`generate`]: the `suggest.generate` job (stages, Claude run, result);
//! - `api`: the facade methods on [`crate::Backend`].

mod api;
pub mod generate;
pub mod memory_link;
pub mod prompt;
pub mod stream;

pub(crate) use generate::register;
pub use stream::StreamItem;

/// The job type of CONTRACT.md §19.
pub const SUGGEST_GENERATE: &str = "suggest.generate";

/// The app's default summarize prompt (`store.ts:68-79`): Korean, no trailing newline.
pub const DEFAULT_SUMMARIZE_PROMPT: &str = "오늘 한 일을 요약해줘.\n\
\n\
## 링크 규칙\n\
- Jira, Confluence(Wiki) 항목: 반드시 마크다운 링크로 작성 (예: [제목](URL))\n\
- GitHub PR (본인이 생성한 것): 마크다운 링크로 작성\n\
- GitHub 커밋, 리뷰: 링크 없이 텍스트로만 작성\n\
- Claude 세션: 링크 없이 텍스트로만 작성\n\
\n\
## 출력 형식\n\
- 간결하고 명확하게 작성\n\
- 주요 작업을 카테고리별로 그룹핑\n\
- 각 항목은 불릿 포인트로 작성";
