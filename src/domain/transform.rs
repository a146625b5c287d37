//! Webhook transformations: a jq program that maps the event, as its receivers would see it, to the body sent.
//!
//! The engine is jaq (`jaq-core`, `jaq-std`, `jaq-json`), jq's language in Rust: it compiles into the Worker's wasm
//! (no second runtime), keeps a number's text as sent (`1.50` stays `1.50` unless the program does arithmetic on
//! it), and `make bench-transform` prints what it costs beside parsing and writing the same event. Its core is
//! vendored with one patch, an evaluation-step budget (`vendor/README.md`): a Worker's clock does not move while
//! code runs, so a time limit could not stop `def f: f; f`.
//!
//! A run is bounded three ways, and running over any of them fails the attempt with the reason (the untransformed
//! body is never sent):
//! - [`STEP_BUDGET`] evaluation steps (every term evaluated, every value a built-in yields);
//! - [`MEMORY_BUDGET`] bytes allocated and still held, asked at every step (`platform::allocated`), so a program that
//!   doubles a string or an array stops within a step of passing it;
//! - [`MAX_OUTPUT_BYTES`] of output, written compactly as JSON.
//!
//! The program's first output is the body; a program with none fails. Built-ins that read the world (`now`, `env`,
//! `input`, `$ENV`, `halt`, `debug`, `stderr`, `input_filename`) are refused or empty, so a transformation is a
//! function of the event: every attempt of a delivery sends the same bytes for the same program.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{data::JustLut, Compiler, Ctx, Native, Vars};
use jaq_json::Val;

use super::Invalid;

/// A program's text is at most this long (it is stored with its webhook).
pub const MAX_PROGRAM_BYTES: usize = 16 * 1024;
/// How deeply a program's brackets (`(`, `[`, `{`, and so string interpolation `\(`) may nest, and how many
/// operators and keywords it may hold (`|` `,` `+` `-` `*` `/` `%` `=` `<` `>` and `and` `or` `as` `if` `reduce`
/// `foreach` `try` `def` `label`, counted wherever they appear). jaq's lexer, parser and compiler recurse once per
/// level of the program's syntax tree, whose depth these bound, at 1.5 to 2.5 KiB of stack a level (measured:
/// 500 levels compiled in a 1 MiB stack, 700 did not). The presets hold 9 levels and 40 operators at most.
pub const MAX_PROGRAM_NESTING: usize = 32;
pub const MAX_PROGRAM_OPERATORS: usize = 200;
/// How many path parts (`.name`, `[i]`: each `.` and `[`) a program may hold: a path is compiled and run through
/// recursion once per part (3,000 parts ran in a 1 MiB stack, 7,000 did not). The presets hold under 40.
pub const MAX_PROGRAM_PATH_PARTS: usize = 1_000;
/// Evaluation steps a run may take. The Slack, Discord and Teams presets take about a thousand on the catalogue's
/// examples; this allows mapping over lists of hundreds of items. It also bounds how deep a value can nest (one level
/// per three steps at the least: under 3,400), which matters because jaq's values are dropped and compared
/// recursively: in the Worker, values 4,000 deep were dropped, compared and caught, 6,600 deep were not (measured
/// through the preview endpoint).
pub const STEP_BUDGET: u64 = 10_000;
/// How deeply a run may nest evaluation (a recursion that is not a tail call nests once per level, and each level
/// holds Rust stack): jq programs for webhooks nest a few dozen levels; the input's own depth is at most 128.
pub const MAX_DEPTH: u32 = 256;
/// Bytes a run may allocate and hold, beyond the event it was given.
pub const MEMORY_BUDGET: usize = 8 * 1024 * 1024;
/// The body a run makes is at most this long: the largest event edgehook accepts.
pub const MAX_OUTPUT_BYTES: usize = 256 * 1024;
/// The output nests at most this deep: JSON parsers' usual limit (serde_json's, and so edgehook's own check of
/// the output), and far inside the stack that writing it recursively takes.
pub const MAX_OUTPUT_DEPTH: usize = 128;
/// Compiled programs kept per isolate (compiling takes longer than a run).
const CACHED_PROGRAMS: usize = 32;

type Data = JustLut<Val>;
type Filter = jaq_core::Filter<Data>;

/// A program that compiled.
#[derive(Clone)]
pub struct Program {
    filter: Rc<Filter>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Program")
    }
}

/// Why a run made no body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The event is not JSON (never for a stored event).
    Input(String),
    /// The program raised an error (`error("…")`, `.a.b` on a string, …): jq's message.
    Error(String),
    /// The program ran out of steps.
    Steps,
    /// The program nested deeper than [`MAX_DEPTH`].
    Deep,
    /// The program held more memory than [`MEMORY_BUDGET`].
    Memory,
    /// The output is longer than [`MAX_OUTPUT_BYTES`].
    TooLarge,
    /// The output nests deeper than [`MAX_OUTPUT_DEPTH`].
    OutputDepth,
    /// The output is not JSON (NaN, infinity, or bytes that are not UTF-8).
    NotJson,
    /// The program produced no output.
    NoOutput,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Input(e) => write!(f, "the event is not JSON: {e}"),
            Self::Error(e) => write!(f, "the program failed: {e}"),
            Self::Steps => write!(f, "the program ran over its budget of {STEP_BUDGET} evaluation steps"),
            Self::Deep => write!(f, "the program nested deeper than {MAX_DEPTH} levels"),
            Self::Memory => write!(f, "the program held more than {} MiB", MEMORY_BUDGET / (1024 * 1024)),
            Self::TooLarge => write!(f, "the output is longer than {} KiB", MAX_OUTPUT_BYTES / 1024),
            Self::OutputDepth => write!(f, "the output nests deeper than {MAX_OUTPUT_DEPTH} levels"),
            Self::NotJson => write!(f, "the output is not JSON (NaN, infinity or bytes)"),
            Self::NoOutput => write!(f, "the program produced no output"),
        }
    }
}

/// What a run made, and the steps it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub body: Result<String, Failure>,
    pub steps: u64,
}

impl Program {
    /// Compiles a program, or says where it is wrong (`line 2, column 7: expected …`), for `transformation.jq`.
    /// Compiled programs are kept per isolate, by their text.
    pub fn compile(source: &str) -> Result<Self, Invalid> {
        let invalid = |message: String| Invalid::field("transformation.jq", message);
        if source.trim().is_empty() {
            return Err(invalid("the program is empty".into()));
        }
        if source.len() > MAX_PROGRAM_BYTES {
            return Err(invalid(format!("the program is longer than {} KiB", MAX_PROGRAM_BYTES / 1024)));
        }
        if let Some(program) = cached(source) {
            return Ok(program);
        }
        let (nesting, operators, path_parts) = syntax_size(source);
        if path_parts > MAX_PROGRAM_PATH_PARTS {
            return Err(invalid(format!(
                "the program holds more than {MAX_PROGRAM_PATH_PARTS} path parts (each . and [ counts)"
            )));
        }
        if nesting > MAX_PROGRAM_NESTING {
            return Err(invalid(format!("the program nests brackets deeper than {MAX_PROGRAM_NESTING} levels")));
        }
        if operators > MAX_PROGRAM_OPERATORS {
            return Err(invalid(format!(
                "the program holds more than {MAX_PROGRAM_OPERATORS} operators and keywords (| , + - * / % = < > and, or, \
                 as, if, reduce, foreach, try, def, label)"
            )));
        }
        let filter = compile(source).map_err(invalid)?;
        let program = Self { filter: Rc::new(filter) };
        keep(source, &program);
        Ok(program)
    }

    /// Runs the program on an event's body text, within the budgets.
    pub fn run(&self, event: &str, allocated: fn() -> usize) -> Run {
        let input = match jaq_json::read::parse_single(event.as_bytes()) {
            Ok(input) => input,
            Err(e) => return Run { body: Err(Failure::Input(e.to_string())), steps: 0 },
        };
        let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new([]));
        jaq_core::budget::start(STEP_BUDGET, MAX_DEPTH, Some(over_memory));
        MEMORY.with(|m| m.set((allocated(), allocated)));
        let first = self.filter.id.run((ctx, input)).next();
        let steps = jaq_core::budget::stop();
        let over_memory = MEMORY_EXCEEDED.with(|m| m.replace(false));
        MEMORY.with(|m| m.set((0, no_allocations)));
        let value = match first {
            None => Err(Failure::NoOutput),
            Some(Ok(value)) => Ok(value),
            Some(Err(exn)) => Err(match exn.get_err() {
                Ok(e) => Failure::Error(error_text(e)),
                Err(_) if over_memory => Failure::Memory,
                // The budget's halts are the only ones a program can raise (`halt` is refused).
                Err(halt) => match halt.get_halt() {
                    Ok(jaq_core::budget::TOO_DEEP) => Failure::Deep,
                    _ => Failure::Steps,
                },
            }),
        };
        Run { body: value.and_then(|v| write(&v)), steps }
    }
}

std::thread_local! {
    static CACHE: RefCell<Vec<(String, Program)>> = const { RefCell::new(Vec::new()) };
    /// The allocation count when the run started, and where to read it.
    static MEMORY: std::cell::Cell<(usize, fn() -> usize)> = const { std::cell::Cell::new((0, no_allocations)) };
    /// Whether the run stopped for memory (what it held is freed by the time the run's result is read).
    static MEMORY_EXCEEDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn no_allocations() -> usize {
    0
}

fn over_memory() -> bool {
    let (base, allocated) = MEMORY.with(std::cell::Cell::get);
    let over = allocated().saturating_sub(base) > MEMORY_BUDGET;
    if over {
        MEMORY_EXCEEDED.with(|m| m.set(true));
    }
    over
}

fn cached(source: &str) -> Option<Program> {
    CACHE.with(|c| c.borrow().iter().find(|(s, _)| s == source).map(|(_, p)| p.clone()))
}

fn keep(source: &str, program: &Program) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHED_PROGRAMS {
            c.remove(0);
        }
        c.push((source.to_string(), program.clone()));
    });
}

/// Built-ins a transformation may not use, by name and arity: they read the clock, the environment or input, or
/// end the run with a code of the program's choosing. Each is one that fails saying so (a program may name them, as
/// the standard library's definitions do).
const REFUSED: [(&str, usize); 5] = [("now", 0), ("env", 0), ("halt", 1), ("input", 0), ("inputs", 0)];

/// Built-ins of jaq's standard library that edgehook leaves out, by name and arity: regular expressions (`test`,
/// `match`, `sub`, `split/2` …), rarer math (`pow`, `tgamma` …) and logging. Bringing them (jaq-std's `regex`,
/// `math`, `time`, `format` and `log` features) adds 281 KiB gzipped to every Worker (measured with worker-build);
/// they fail with a message saying so. The formats and dates webhooks need are edgehook's own ([`own_natives`]).
const LEFT_OUT: [(&str, usize); 12] = [
    ("stderr_empty", 0),
    ("debug_empty", 0),
    ("ilogb", 0),
    ("scalbln", 2),
    ("pow", 2),
    ("remainder", 2),
    ("copysign", 2),
    ("nextafter", 2),
    ("tgamma", 0),
    ("matches", 2),
    ("split_", 2),
    ("split_matches", 2),
];

type Fun = (&'static str, Box<[jaq_core::Bind]>, Native<Data>);

/// The built-ins [`own_natives`] provides in place of jaq's.
const OWN: [&str; 2] = ["tojson", "fromjson"];

/// `@base64`, `@base64d`, `@uri`, `@urid`, `@html`, `@htmld` and `todate`/`fromdate` (ISO 8601 UTC, as jq writes
/// them), on the crates the Worker has already (base64, url's percent-encoding, chrono); and `tojson` and `fromjson`
/// in place of jaq's, bounded: both recurse once per level of nesting, so a value too deep or too large to write
/// (`jaq_core::budget::writable`), or text nested deeper than it allows, fails instead of overflowing the stack.
fn own_natives() -> [Fun; 10] {
    use base64::Engine as _;
    use jaq_std::ValT as _;
    let fun = |name, native| (name, Box::new([]) as Box<[jaq_core::Bind]>, native);
    [
        fun("encode_base64", Native::new(|cv| one(text(&cv.1).map(|s| base64::prelude::BASE64_STANDARD.encode(s))))),
        fun(
            "decode_base64",
            Native::new(|cv| {
                one(text(&cv.1).and_then(|s| {
                    let bytes = base64::prelude::BASE64_STANDARD.decode(s).map_err(|e| format!("{e}"))?;
                    String::from_utf8(bytes).map_err(|_| "the decoded bytes are not UTF-8".to_string())
                }))
            }),
        ),
        fun(
            "encode_uri",
            Native::new(|cv| {
                // jq's @uri keeps the unreserved characters of RFC 3986 and percent-encodes every other byte.
                const RESERVED: &percent_encoding::AsciiSet =
                    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
                one(text(&cv.1).map(|s| percent_encoding::utf8_percent_encode(s, RESERVED).to_string()))
            }),
        ),
        fun(
            "tojson",
            Native::new(|cv| {
                if jaq_core::budget::writable(&cv.1) {
                    one(Ok(cv.1.to_string()))
                } else {
                    one(Err("the value is too large or too deeply nested to write as JSON".into()))
                }
            }),
        ),
        fun(
            "fromjson",
            Native::new(|cv| match text(&cv.1) {
                Err(e) => one(Err(e)),
                Ok(s) if nesting(s) > jaq_core::budget::WRITE_DEPTH => {
                    one(Err(format!("the JSON text nests deeper than {} levels", jaq_core::budget::WRITE_DEPTH)))
                }
                Ok(s) => match jaq_json::read::parse_single(s.as_bytes()) {
                    Ok(v) => Box::new(std::iter::once(Ok(v))),
                    Err(e) => one(Err(format!("{s:?} is not valid JSON: {e}"))),
                },
            }),
        ),
        fun(
            "decode_uri",
            Native::new(|cv| {
                one(text(&cv.1).and_then(|s| {
                    let decoded = percent_encoding::percent_decode_str(s).decode_utf8();
                    decoded.map(|d| d.into_owned()).map_err(|_| "the decoded bytes are not UTF-8".to_string())
                }))
            }),
        ),
        fun(
            "unescape_html",
            Native::new(|cv| {
                one(text(&cv.1).map(|s| {
                    s.replace("&lt;", "<")
                        .replace("&gt;", ">")
                        .replace("&#39;", "'")
                        .replace("&apos;", "'")
                        .replace("&quot;", "\"")
                        .replace("&amp;", "&")
                }))
            }),
        ),
        fun(
            "escape_html",
            Native::new(|cv| {
                one(text(&cv.1).map(|s| {
                    s.replace('&', "&amp;")
                        .replace('<', "&lt;")
                        .replace('>', "&gt;")
                        .replace('\'', "&#39;")
                        .replace('"', "&quot;")
                }))
            }),
        ),
        fun(
            "todateiso8601",
            Native::new(|cv| {
                let seconds = cv.1.as_f64().ok_or_else(|| format!("{} is not a number of seconds", cv.1));
                one(seconds.and_then(|s| {
                    chrono::DateTime::from_timestamp(s.floor() as i64, 0)
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                        .ok_or_else(|| format!("{s} is out of range for a date"))
                }))
            }),
        ),
        fun(
            "fromdateiso8601",
            Native::new(|cv| {
                let seconds = text(&cv.1).and_then(|s| {
                    super::time::parse_iso8601(s).ok_or_else(|| format!("{s:?} is not an ISO 8601 date and time"))
                });
                match seconds {
                    Ok(ms) => Box::new(std::iter::once(Ok(Val::from(ms.div_euclid(1000) as isize)))),
                    Err(e) => one(Err(e)),
                }
            }),
        ),
    ]
}

/// A program's bracket nesting, its count of operators and keywords, and of path parts ([`MAX_PROGRAM_NESTING`],
/// [`MAX_PROGRAM_PATH_PARTS`]), counted on its text as it is, strings included: an over-count, never an under-count.
fn syntax_size(source: &str) -> (usize, usize, usize) {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for b in source.bytes() {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let symbols = source.bytes().filter(|b| b"|,+-*/%=<>".contains(b)).count();
    const KEYWORDS: [&str; 9] = ["and", "or", "as", "if", "reduce", "foreach", "try", "def", "label"];
    let words = source
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
        .filter(|w| KEYWORDS.contains(w))
        .count();
    let path_parts = source.bytes().filter(|b| matches!(b, b'.' | b'[')).count();
    (deepest, symbols + words, path_parts)
}

/// How deep JSON text nests (brackets and braces outside strings), counted without parsing it.
fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The text of a string value, or an error naming what it is instead.
fn text(v: &Val) -> Result<&str, String> {
    match v {
        Val::TStr(b) | Val::BStr(b) => std::str::from_utf8(b).map_err(|_| "the string is not UTF-8".to_string()),
        other => Err(format!("{other} is not a string")),
    }
}

/// One string output, or the error.
fn one<'a>(r: Result<String, String>) -> jaq_core::ValXs<'a, Val> {
    Box::new(std::iter::once(r.map(Val::from).map_err(|e| jaq_core::Exn::from(jaq_core::Error::str(e)))))
}

fn compile(source: &str) -> Result<Filter, String> {
    let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader.load(&arena, File { code: source, path: () }).map_err(|errors| {
        // What the lexer or the parser expected, and where (a slice of the program).
        let expected = match errors.into_iter().next().map(|(_, e)| e) {
            Some(jaq_core::load::Error::Lex(es)) => es.first().map(|(expect, at)| (expect.as_str(), *at)),
            Some(jaq_core::load::Error::Parse(es)) => es.first().map(|(expect, at)| (expect.as_str(), *at)),
            Some(jaq_core::load::Error::Io(_)) => return "a transformation cannot import or include modules".into(),
            None => None,
        };
        expected
            .map(|(expect, at)| at_position(source, at, &format!("expected {expect}")))
            .unwrap_or_else(|| "the program does not parse".into())
    })?;
    let args = |arity: usize| vec![jaq_core::Bind::Var(()); arity].into_boxed_slice();
    let left_out = LEFT_OUT.iter().map(|(name, arity)| (*name, args(*arity), Native::new(|_| left_out())));
    let refused = REFUSED.iter().map(|(name, arity)| (*name, args(*arity), Native::new(|_| refused())));
    let funs = jaq_core::funs::<Data>()
        .chain(jaq_std::base_funs::<Data>())
        .chain(jaq_json::funs::<Data>())
        .filter(|(name, args, _)| !REFUSED.contains(&(*name, args.len())) && !OWN.contains(name))
        .chain(own_natives())
        .chain(left_out)
        .chain(refused);
    Compiler::default().with_funs(funs).compile(modules).map_err(|errors| {
        let first = errors.into_iter().next().and_then(|(_, es)| es.into_iter().next());
        match first {
            Some((name, undefined)) => {
                at_position(source, name, &format!("{} `{name}` is not defined", undefined.as_str()))
            }
            None => "the program does not compile".into(),
        }
    })
}

fn refused<'a>() -> jaq_core::ValXs<'a, Val> {
    one(Err("this built-in is not available in transformations (they depend on the event alone)".into()))
}

fn left_out<'a>() -> jaq_core::ValXs<'a, Val> {
    one(Err("regular expressions, logging and this math function are not available in edgehook's jq".into()))
}

/// `line L, column C: message`, where `at` is a slice of `source` (jaq's errors point into the program's text).
fn at_position(source: &str, at: &str, message: &str) -> String {
    let start = at.as_ptr() as usize;
    let base = source.as_ptr() as usize;
    if start < base || start > base + source.len() {
        return message.to_string();
    }
    let before = &source[..(start - base).min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}: {message}")
}

/// An error's message: a string raised by `error("…")` as itself, anything else as jq writes it.
fn error_text(e: jaq_core::Error<Val>) -> String {
    let text = match e.into_val() {
        Val::TStr(s) | Val::BStr(s) => String::from_utf8_lossy(&s).into_owned(),
        other => other.to_string(),
    };
    let mut short: String = text.chars().take(500).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

/// Writes a value as compact JSON, stopping as soon as it passes [`MAX_OUTPUT_BYTES`] (a value of shared parts
/// can be far larger written out than held), and checks that what was written is JSON.
fn write(value: &Val) -> Result<String, Failure> {
    struct Bounded(String);
    impl std::fmt::Write for Bounded {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            if self.0.len() + s.len() > MAX_OUTPUT_BYTES {
                return Err(std::fmt::Error);
            }
            self.0.push_str(s);
            Ok(())
        }
    }
    check_shape(value)?;
    let mut out = Bounded(String::new());
    write!(out, "{value}").map_err(|_| Failure::TooLarge)?;
    match serde_json::from_str::<serde::de::IgnoredAny>(&out.0) {
        Ok(_) => Ok(out.0),
        Err(_) => Err(Failure::NotJson),
    }
}

/// Refuses an output nested deeper than [`MAX_OUTPUT_DEPTH`] before writing it (writing recurses once per level), or
/// with more parts than its bytes could hold (a value of shared parts can be far larger written out than held), with
/// a walk of its own that uses no recursion.
fn check_shape(value: &Val) -> Result<(), Failure> {
    jaq_core::budget::shape(value, MAX_OUTPUT_DEPTH, MAX_OUTPUT_BYTES).map_err(|oversized| match oversized {
        jaq_core::budget::Oversized::Parts => Failure::TooLarge,
        jaq_core::budget::Oversized::Depth => Failure::OutputDepth,
    })
}

/// Programs the portal offers for chat services' incoming webhooks. Each reads the event's `type`, `id` and
/// `data`, and works on any event.
pub const PRESETS: [(&str, &str, &str); 3] = [
    (
        "slack",
        "Slack incoming webhook",
        r#"{
  text: "\(.type): \(.data.name // .data.title // .data.email // .id)",
  blocks: [
    {type: "section", text: {type: "mrkdwn", text: "*\(.type)*\n\(.data.name // .data.title // .data.email // .id)"}},
    {type: "section", fields: [.data | to_entries[] | select(.value | type != "object" and type != "array")
      | {type: "mrkdwn", text: "*\(.key)*\n\(.value)"}] | .[:10]},
    {type: "context", elements: [{type: "mrkdwn", text: "\(.id) · \(.timestamp)"}]}
  ] | map(select(.fields != [])) | map(del(.fields | select(. == null)))
}"#,
    ),
    (
        "discord",
        "Discord webhook",
        r#"{
  content: "**\(.type)**",
  embeds: [{
    title: (.data.name // .data.title // .data.email // .id | tostring | .[:256]),
    fields: [.data | to_entries[] | select(.value | type != "object" and type != "array")
      | {name: .key, value: (.value | tostring | .[:1024]), inline: true}] | .[:25],
    footer: {text: .id},
    timestamp: .timestamp
  }]
}"#,
    ),
    (
        "teams",
        "Microsoft Teams incoming webhook (Adaptive Card)",
        r#"{
  type: "message",
  attachments: [{
    contentType: "application/vnd.microsoft.card.adaptive",
    content: {
      "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
      type: "AdaptiveCard",
      version: "1.4",
      body: [
        {type: "TextBlock", size: "Medium", weight: "Bolder", text: .type},
        {type: "TextBlock", wrap: true, text: (.data.name // .data.title // .data.email // .id | tostring)},
        {type: "FactSet", facts: [.data | to_entries[] | select(.value | type != "object" and type != "array")
          | {title: .key, value: (.value | tostring)}]}
      ]
    }
  }]
}"#,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> usize {
        0
    }

    const EVENT: &str = r#"{"id":"evt_1","type":"deal.updated","timestamp":"2026-12-05T08:00:00Z","organizationId":"org_1","deliveryId":"dlv_1","data":{"id":"deal_1","name":"Acme renewal","amount":1.50,"big":123456789012345678901234567890,"stage":"won","tags":["a","b"]}}"#;

    fn run(program: &str) -> Run {
        Program::compile(program).expect("compiles").run(EVENT, none)
    }

    #[test]
    fn maps_the_event_and_keeps_numbers_as_sent() {
        let r = run("{amount: .data.amount, big: .data.big, name: .data.name}");
        assert_eq!(
            r.body.as_deref(),
            Ok(r#"{"amount":1.50,"big":123456789012345678901234567890,"name":"Acme renewal"}"#)
        );
        assert!(r.steps > 0 && r.steps < 100, "{} steps", r.steps);
        assert_eq!(run(".").body.as_deref(), Ok(EVENT));
    }

    #[test]
    fn the_first_output_is_the_body_and_none_is_a_failure() {
        assert_eq!(run(".data.tags[]").body.as_deref(), Ok("\"a\""));
        assert_eq!(run("empty").body, Err(Failure::NoOutput));
        assert_eq!(run("select(.type == \"deal.created\")").body, Err(Failure::NoOutput));
    }

    #[test]
    fn formats_and_dates_work_as_in_jq() {
        let r = run(r#"[(.data.name | @base64), (.data.name | @base64 | @base64d), ("a b&c/é" | @uri),
            ("<a href='x'>&</a>" | @html), (1700000000 | todate), ("2023-11-14T22:13:20Z" | fromdate),
            "\(.data.name | @uri)"]"#);
        assert_eq!(
            r.body.as_deref(),
            Ok(
                r#"["QWNtZSByZW5ld2Fs","Acme renewal","a%20b%26c%2F%C3%A9","&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;","2023-11-14T22:13:20Z",1700000000,"Acme%20renewal"]"#
            )
        );
        let r = run(r#"[[1, "a,b"] | @sh, @json, @text] + [(2.5 | floor, round, ceil)]"#);
        assert_eq!(r.body.as_deref(), Ok(r#"["1 'a,b'","[1,\"a,b\"]","[1,\"a,b\"]",2,3,3]"#));
        assert!(Program::compile("sqrt").is_err(), "left out: math beyond floor, round and ceil");
        let r = run(r#".data.name | test("Acme")"#);
        assert!(matches!(&r.body, Err(Failure::Error(m)) if m.contains("regular expressions")), "{:?}", r.body);
    }

    #[test]
    fn errors_carry_jq_s_message() {
        let r = run(r#"error("no stage")"#);
        assert_eq!(r.body, Err(Failure::Error("no stage".into())), "{:?}", r.body);
        let r = run(".data.name.first");
        assert!(matches!(&r.body, Err(Failure::Error(m)) if m.contains("cannot index")), "{:?}", r.body);
        assert_eq!(run("[nan]").body, Err(Failure::NotJson));
    }

    #[test]
    fn endless_programs_stop_at_the_budget_even_inside_try() {
        for program in [
            "def f: f; f",
            "repeat(.)|empty",
            "[range(1e18)]",
            "range(1e18)|empty",
            "last(range(1e18))",
            "try (def f: f; f) catch 1",
            "(range(1e18)|empty) // 1",
            "[limit(1e18; repeat(1))] | length",
            "reduce range(1e18) as $i (0; . + $i)",
            "label $out | range(1e18) | if . < 0 then ., break $out else empty end",
            "until(false; .)",
            "path(def f: f; f)",
            ".a |= (def f: f; f)",
        ] {
            let r = run(program);
            assert_eq!(r.body, Err(Failure::Steps), "{program}: {:?}", r.body);
            assert!(r.steps >= STEP_BUDGET - 1 && r.steps <= STEP_BUDGET, "{program}: {} steps", r.steps);
        }
    }

    #[test]
    fn recursion_that_is_not_a_tail_call_stops_at_the_depth() {
        for program in ["def f: try f catch f; f", "def f: 1 + f; f", "def f: [f]; f"] {
            let r = run(program);
            assert_eq!(r.body, Err(Failure::Deep), "{program}: {:?}", r.body);
        }
    }

    #[test]
    fn values_grow_at_most_one_level_per_three_steps() {
        // A value nested thousands deep is dropped recursively (by jaq's own types); the step budget bounds the
        // depth. Debug builds' frames are ten times a release build's, hence the test's own large stack.
        let deepest = std::thread::Builder::new()
            .stack_size(256 * 1024 * 1024)
            .spawn(|| {
                for program in ["reduce range(1e9) as $i (0; [.])", "[recurse([.])] | length", "last(recurse({a: .}))"]
                {
                    assert_eq!(run(program).body, Err(Failure::Steps), "{program}");
                }
                let depth = format!("[limit({}; recurse([.]))] | last | [paths] | map(length) | max", STEP_BUDGET);
                run(&depth).body
            })
            .expect("thread")
            .join()
            .expect("no panic");
        // Within the budget a program reaches under a third of it in depth (and then cannot measure it).
        match deepest {
            Ok(depth) => assert!(depth.parse::<u64>().is_ok_and(|d| d < STEP_BUDGET / 3), "{depth}"),
            Err(failure) => assert_eq!(failure, Failure::Steps),
        }
    }

    #[test]
    fn memory_growth_stops_within_a_step_of_the_budget() {
        // The test's allocation count: 1 MiB more at every step the program takes.
        fn grows() -> usize {
            (jaq_core::budget::used() as usize) * 1024 * 1024
        }
        let r = Program::compile("def f: ., f; f").expect("compiles").run(EVENT, grows);
        // The first output came before the memory ran out: a lazy program is judged by its first output only.
        assert!(r.body.is_ok());
        let r = Program::compile("[repeat(.)]").expect("compiles").run(EVENT, grows);
        assert_eq!(r.body, Err(Failure::Memory));
        assert!(r.steps <= (MEMORY_BUDGET / (1024 * 1024)) as u64 + 1, "{} steps", r.steps);
    }

    #[test]
    fn single_steps_that_would_make_too_much_at_once_fail() {
        let r = run(r#""ab" * 1000000000"#);
        assert!(matches!(&r.body, Err(Failure::Error(m)) if m.contains("repeating a string")), "{:?}", r.body);
        assert_eq!(run(r#"1000000000 * "ab" | length"#).body, run(r#""ab" * 1000000000 | length"#).body);
        // Within the bound, and numbers, multiply as jq does.
        assert_eq!(run(r#"["ab" * 3, 3 * 1000000000, 1.5 * 2]"#).body.as_deref(), Ok(r#"["ababab",3000000000,3.0]"#));
        // A value nested deeper than a JSON reader takes is not written (writing recurses once per level).
        assert_eq!(run("reduce range(3000) as $i (0; [.])").body, Err(Failure::OutputDepth));
        assert_eq!(run("reduce range(127) as $i (0; [.]) | length").body.as_deref(), Ok("1"));
    }

    #[test]
    fn writing_a_value_as_text_inside_the_program_is_bounded_too() {
        let deep = "reduce range(1000) as $i (0; [.])";
        for (program, message) in [
            (format!("{deep} | tojson"), "too large or too deeply nested to write as JSON"),
            (format!("{deep} | tostring"), "too large or too deeply nested to write as text"),
            (format!("\"\\({deep})\""), "too large or too deeply nested to write as text"),
            (format!("{deep} | @json"), "too large or too deeply nested to write as JSON"),
            ("reduce range(40) as $i (1; [., .]) | tojson".to_string(), "too large or too deeply nested"),
            (format!("{deep} | .a"), "an error about a value too large or too deeply nested to write"),
            (format!("try ({deep} | .a) catch error"), "an error about a value too large or too deeply nested"),
            (r#""[" * 600 | fromjson"#.to_string(), "nests deeper than 512 levels"),
        ] {
            let r = run(&program);
            assert!(matches!(&r.body, Err(Failure::Error(m)) if m.contains(message)), "{program}: {:?}", r.body);
        }
        // Within the bounds, as jq.
        assert_eq!(
            run(r#"[{a: [1, "x"]} | tojson, tostring, "\(.)"] | .[0]"#).body.as_deref(),
            Ok(r#""{\"a\":[1,\"x\"]}""#)
        );
        assert_eq!(run(r#""[1,{\"a\":\"]\"}]" | fromjson"#).body.as_deref(), Ok(r#"[1,{"a":"]"}]"#));
        assert_eq!(run(r#""[" * 500 + "]" * 500 | fromjson | tojson | length"#).body.as_deref(), Ok("1000"));
    }

    #[test]
    fn output_is_bounded_however_it_is_held() {
        // Forty doublings of one shared array: a few steps and bytes held, a trillion written out.
        let r = run("reduce range(40) as $i (1; [., .])");
        assert_eq!(r.body, Err(Failure::TooLarge));
    }

    #[test]
    fn what_reads_the_world_or_ends_the_run_is_refused() {
        for program in ["now", "env", "$ENV", "halt", "halt_error", "input", "debug", "stderr", "input_filename"] {
            let r = Program::compile(program).map(|p| p.run(EVENT, none).body);
            match r {
                Err(invalid) => assert_eq!(invalid.field.as_deref(), Some("transformation.jq"), "{program}"),
                Ok(Err(Failure::Error(m))) => assert!(m.contains("not available"), "{program}: {m}"),
                Ok(Ok(body)) => assert!(body == "null" || body == EVENT, "{program}: {body}"),
                Ok(other) => panic!("{program}: {other:?}"),
            }
        }
    }

    #[test]
    fn programs_too_deep_or_too_long_for_the_compiler_are_refused_before_it_runs() {
        // Each of these, at 700 levels, overflows a 1 MiB stack in jaq's lexer, parser or compiler.
        for program in [
            format!("{}{}", "[".repeat(700), "]".repeat(700)),
            format!("{}1", "-".repeat(700)),
            format!(".{}", "|.".repeat(700)),
            format!("1{}", "+1".repeat(700)),
            format!("{}.", ". as $x|".repeat(700)),
            format!("{}1{}", "\"\\(".repeat(700), ")\"".repeat(700)),
            format!("null | {} = 1", ".a".repeat(1200)),
            format!(".{}", "[0]".repeat(1200)),
        ] {
            let e = Program::compile(&program).expect_err("refused");
            assert!(e.message.starts_with("the program "), "{}", e.message);
        }
        for (name, _, program) in PRESETS {
            let (nesting, operators, path_parts) = syntax_size(program);
            assert!(nesting <= 12 && operators <= MAX_PROGRAM_OPERATORS / 4, "{name}: {nesting} levels, {operators}");
            assert!(path_parts <= 40, "{name}: {path_parts} path parts");
        }
    }

    #[test]
    fn compile_errors_say_where() {
        let e = Program::compile("{a: .b,\n  c: (.d | }").expect_err("bad");
        assert_eq!(e.field.as_deref(), Some("transformation.jq"));
        assert!(e.message.starts_with("line 2, column "), "{}", e.message);
        let e = Program::compile(".a | nosuchfn(1)").expect_err("undefined");
        assert!(e.message.contains("nosuchfn") && e.message.starts_with("line 1, column 6"), "{}", e.message);
        assert!(Program::compile("  ").is_err());
        assert!(Program::compile(&"1+".repeat(MAX_PROGRAM_BYTES)).is_err());
        assert!(Program::compile(r#"import "x" as x; ."#).is_err());
    }

    #[test]
    fn presets_make_what_the_services_accept() {
        for (name, _, program) in PRESETS {
            let r = run(program);
            let body: serde_json::Value = serde_json::from_str(r.body.as_deref().expect(name)).expect(name);
            match name {
                "slack" => {
                    assert_eq!(body["text"], "deal.updated: Acme renewal");
                    assert_eq!(body["blocks"][0]["type"], "section");
                    assert!(body["blocks"][1]["fields"].as_array().is_some_and(|f| f.len() == 5), "{body}");
                }
                "discord" => {
                    assert_eq!(body["embeds"][0]["title"], "Acme renewal");
                    assert_eq!(body["embeds"][0]["fields"][2]["value"], "1.50");
                }
                _ => {
                    let card = &body["attachments"][0]["content"];
                    assert_eq!(card["type"], "AdaptiveCard");
                    assert_eq!(card["body"][2]["facts"][0]["title"], "id");
                }
            }
            assert!(r.steps < 2_000, "{name}: {} steps", r.steps);
        }
    }
}
