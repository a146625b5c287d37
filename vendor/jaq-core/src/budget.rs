//! An evaluation-step budget (edgehook's patch of jaq-core; see `vendor/README.md`).
//!
//! jq programs can loop forever (`def f: f; f`, `repeat(.)`, `range(1e18)`), and a Worker's clock only moves on
//! I/O, so a time limit cannot stop them. Every evaluation of a term (`run`, `paths`, `update`) and every value a
//! native filter yields takes one step. Once the budget is spent, or the caller's own limit (`over`, which edgehook
//! uses for memory) says stop, each further step raises [`Exn::halt`] with [`EXHAUSTED`]: `try` does not catch a
//! halt, `//` passes it on, so the evaluation unwinds at once to its caller, which reads [`used`].
//!
//! The budget is per thread (a Worker isolate runs one at a time) and is off (unlimited) until [`start`].

use core::cell::Cell;

/// The exit code of the halt that an exhausted budget raises.
pub const EXHAUSTED: i32 = -0x6a71;
/// The exit code of the halt that evaluation nested deeper than the budget's depth raises.
pub const TOO_DEEP: i32 = -0x6a72;

std::thread_local! {
    static LEFT: Cell<u64> = const { Cell::new(u64::MAX) };
    static USED: Cell<u64> = const { Cell::new(0) };
    static OVER: Cell<Option<fn() -> bool>> = const { Cell::new(None) };
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static MAX_DEPTH: Cell<u32> = const { Cell::new(u32::MAX) };
}

/// Starts a budget of `steps` and of nesting `depth` (terms evaluated inside one another: Rust stack) for this
/// thread's next evaluation; `over`, if given, is asked at every step too.
pub fn start(steps: u64, depth: u32, over: Option<fn() -> bool>) {
    LEFT.with(|l| l.set(steps));
    DEPTH.with(|d| d.set(0));
    MAX_DEPTH.with(|d| d.set(depth));
    USED.with(|u| u.set(0));
    OVER.with(|o| o.set(over));
}

/// Ends the budget: evaluation is unlimited again. Returns the steps used since [`start`].
pub fn stop() -> u64 {
    LEFT.with(|l| l.set(u64::MAX));
    MAX_DEPTH.with(|d| d.set(u32::MAX));
    OVER.with(|o| o.set(None));
    used()
}

/// The steps used since [`start`].
pub fn used() -> u64 {
    USED.with(Cell::get)
}

/// The most bytes one string repetition (`"ab" * 3`) may make while a budget runs: it is one step, so the step
/// budget cannot bound it, and it allocates its result at once.
pub const MAX_REPEAT_BYTES: usize = 8 * 1024 * 1024;

/// Whether `x op y` would make more than [`MAX_REPEAT_BYTES`] at once (a string times a large number), while a
/// budget runs: the error to raise instead. Generic over the value type: jq orders values null < booleans < numbers
/// < strings < arrays, and a string's JSON text is at least as long as the string.
pub(crate) fn refused_math<V: crate::ValT>(op: crate::ops::Math, x: &V, y: &V) -> Option<crate::Error<V>> {
    if op != crate::ops::Math::Mul || LEFT.with(Cell::get) == u64::MAX {
        return None;
    }
    let empty_string = V::from(alloc::string::String::new());
    let empty_array: V = core::iter::empty().collect();
    let is_string = |v: &V| *v >= empty_string && *v < empty_array;
    let is_number = |v: &V| *v > V::from(true) && *v < empty_string;
    let (s, n) = match (is_string(x), is_string(y)) {
        (true, false) if is_number(y) => (x, y),
        (false, true) if is_number(x) => (y, x),
        _ => return None,
    };
    let len = alloc::format!("{s}").len().max(1);
    let most = isize::try_from(MAX_REPEAT_BYTES / len).unwrap_or(isize::MAX);
    (*n > V::from(most)).then(|| {
        crate::Error::str(alloc::format!("repeating a string would make more than {MAX_REPEAT_BYTES} bytes"))
    })
}

/// The deepest value [`writable`] lets be written as text: writing recurses once per level, and a value nested a few
/// thousand deep overflows the stack of a Worker's wasm (measured: 2,000 levels written, 4,000 not).
pub const WRITE_DEPTH: usize = 512;
/// The most parts (values inside values) [`writable`] walks: a value of shared parts can be far larger written out
/// than held (`[., .]` forty times over), and its text would not fit in memory.
pub const WRITE_PARTS: usize = 200_000;

/// What makes a value too big to walk: more parts than allowed, or deeper nesting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oversized {
    /// More parts than allowed.
    Parts,
    /// Nested deeper than allowed.
    Depth,
}

/// Checks a value's shape with a walk of its own that does not recurse: at most `max_parts` parts (values inside
/// values, counted as written out: a value of shared parts counts each time it appears) and `max_depth` levels.
/// Generic over the value type: jq orders scalars (null, booleans, numbers, strings) before arrays and objects, and
/// `values` yields an array's or object's members.
pub fn shape<V: crate::ValT>(v: &V, max_depth: usize, max_parts: usize) -> Result<(), Oversized> {
    let empty_array: V = core::iter::empty().collect();
    let mut parts = 0usize;
    let mut stack = alloc::vec![(v.clone(), 1usize)];
    while let Some((v, depth)) = stack.pop() {
        parts += 1;
        if parts > max_parts {
            return Err(Oversized::Parts);
        }
        if v < empty_array {
            continue;
        }
        if depth > max_depth {
            return Err(Oversized::Depth);
        }
        stack.extend(v.values().filter_map(Result::ok).map(|child| (child, depth + 1)));
    }
    Ok(())
}

/// Whether a value can be written as text (`"\(.)"`, `tostring`, `tojson`, an error's message) without recursing
/// past [`WRITE_DEPTH`] or writing more than [`WRITE_PARTS`] parts ([`shape`]).
pub fn writable<V: crate::ValT>(v: &V) -> bool {
    shape(v, WRITE_DEPTH, WRITE_PARTS).is_ok()
}

/// Takes one step; false when the budget is spent (or `over` says so).
pub(crate) fn step() -> bool {
    let left = LEFT.with(Cell::get);
    if left == u64::MAX {
        return true;
    }
    if left == 0 || OVER.with(Cell::get).is_some_and(|over| over()) {
        LEFT.with(|l| l.set(0));
        return false;
    }
    LEFT.with(|l| l.set(left - 1));
    USED.with(|u| u.set(u.get() + 1));
    true
}

/// The halt an exhausted budget raises.
pub(crate) fn exhausted<'a, T: 'a, V: 'a>() -> crate::ValXs<'a, T, V> {
    crate::box_iter::box_once(Err(crate::Exn::halt(EXHAUSTED)))
}

/// Counts each item of a native filter's output as one step.
pub(crate) fn counted<'a, T: 'a, V: 'a>(items: crate::ValXs<'a, T, V>) -> crate::ValXs<'a, T, V> {
    let mut items = Some(items);
    alloc::boxed::Box::new(core::iter::from_fn(move || {
        let next = items.as_mut()?.next()?;
        if step() {
            Some(next)
        } else {
            items = None;
            Some(Err(crate::Exn::halt(EXHAUSTED)))
        }
    }))
}

/// Enters one level of nesting; false (nothing entered) when that would pass the depth.
fn enter() -> bool {
    let depth = DEPTH.with(Cell::get);
    if depth >= MAX_DEPTH.with(Cell::get) {
        return false;
    }
    DEPTH.with(|d| d.set(depth + 1));
    true
}

fn leave() {
    DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
}

/// Evaluates `f` one level deeper, and every later step of its output too (lazy output evaluates when pulled);
/// past the depth, the halt [`TOO_DEEP`] instead.
pub(crate) fn nested<'a, T: 'a, V: 'a>(f: impl FnOnce() -> crate::ValXs<'a, T, V>) -> crate::ValXs<'a, T, V> {
    if !step() {
        return exhausted();
    }
    if !enter() {
        return crate::box_iter::box_once(Err(crate::Exn::halt(TOO_DEEP)));
    }
    let mut items = f();
    leave();
    alloc::boxed::Box::new(core::iter::from_fn(move || {
        if !enter() {
            return Some(Err(crate::Exn::halt(TOO_DEEP)));
        }
        let next = items.next();
        leave();
        next
    }))
}
