//! Payload filters: which events a webhook receives beyond their type, in the JSON filter syntax Hookdeck and Convoy
//! users know. A filter is an object matched against the event as its receivers see it, `{"id", "type", "data",
//! "changes"}`:
//!
//! - a member names a field and holds what that field must be: a string, number, boolean or `null` (equal to it), an
//!   object of operators (`{"$gte": 10000}`), or an object of deeper fields (`{"data": {"stage": "won"}}`);
//! - operators: `$eq` `$neq` `$gt` `$gte` `$lt` `$lte` (numbers, or strings such as ISO times), `$in` `$nin` (a list
//!   of values), `$startsWith` (a string), `$exist` (`true` or `false`);
//! - `$and` and `$or` take a non-empty list of filters, `$not` one filter;
//! - where the event holds a list, a condition on it holds when it holds for one of its items (`{"tags": "vip"}`
//!   matches `"tags": ["new", "vip"]`; `{"lines": {"sku": "B", "qty": {"$gte": 5}}}` needs one line with both).
//!
//! Numbers compare by value on the exact text of the event as it was sent: `1.50` equals `1.5`, and integers beyond
//! 2^53 (or 2^64) compare digit by digit, never through a float. A field that is missing matches nothing but `$neq`,
//! `$nin` and `$exist: false`.

use std::cmp::Ordering;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::Invalid;

/// A filter's JSON text is at most this long (it is stored with its webhook and read at every fan-out).
pub const MAX_FILTER_BYTES: usize = 4096;
/// Nesting deeper than this is refused.
pub const MAX_DEPTH: usize = 12;
/// Values an evaluation may look at (one step each). An ordinary filter takes tens; this one allows walking lists
/// of thousands of items, and bounds what a fan-out can spend in the organization's object: a batch of 100 events to
/// 10 filtered webhooks looks at 50 million values at the very most.
pub const STEP_BUDGET: u32 = 50_000;

/// What an evaluation may still spend, and whether it ran out.
struct Budget {
    left: std::cell::Cell<u32>,
    out: std::cell::Cell<bool>,
}

impl Budget {
    /// Takes a step; `false` (and out for good) when none was left.
    fn spend(&self) -> bool {
        match self.left.get() {
            0 => {
                self.out.set(true);
                false
            }
            left => {
                self.left.set(left - 1);
                true
            }
        }
    }
}

/// A valid filter, ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    root: Cond,
}

#[derive(Debug, Clone, PartialEq)]
enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    /// The value of a field of the current object (or of each object of the current list).
    Field(String, Box<Cond>),
    Test(Op, Literal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Nin,
    StartsWith,
    Exist,
}

impl Op {
    fn parse(name: &str) -> Option<Op> {
        Some(match name {
            "$eq" => Op::Eq,
            "$neq" => Op::Neq,
            "$gt" => Op::Gt,
            "$gte" => Op::Gte,
            "$lt" => Op::Lt,
            "$lte" => Op::Lte,
            "$in" => Op::In,
            "$nin" => Op::Nin,
            "$startsWith" => Op::StartsWith,
            "$exist" => Op::Exist,
            _ => return None,
        })
    }
}

/// A value a filter compares with. Numbers keep their text, compared by value.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    List(Vec<Literal>),
}

impl Literal {
    /// A scalar of the filter; lists and objects are not values to compare with.
    fn scalar(value: &Value) -> Option<Literal> {
        Some(match value {
            Value::Null => Literal::Null,
            Value::Bool(b) => Literal::Bool(*b),
            Value::Number(n) => Literal::Number(n.to_string()),
            Value::String(s) => Literal::String(s.clone()),
            Value::Array(_) | Value::Object(_) => return None,
        })
    }
}

/// Where in the filter a problem is, as a JSON pointer (`/data/amount/$gte`).
fn at(path: &[String]) -> String {
    if path.is_empty() {
        return "the top level".into();
    }
    path.iter().map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1"))).collect()
}

fn refuse(path: &[String], message: impl std::fmt::Display) -> Invalid {
    Invalid::field("filter", format!("filter at {}: {message}", at(path)))
}

impl Filter {
    /// Parses and validates a filter; a refusal names the position of the first problem.
    pub fn parse(value: &Value) -> Result<Filter, Invalid> {
        let text = value.to_string();
        if text.len() > MAX_FILTER_BYTES {
            return Err(Invalid::field(
                "filter",
                format!("the filter must be at most {MAX_FILTER_BYTES} bytes of JSON"),
            ));
        }
        let Value::Object(members) = value else {
            return Err(refuse(&[], "a filter is a JSON object, such as {\"data\": {\"stage\": \"won\"}}"));
        };
        Ok(Filter { root: object(members, &mut Vec::new())? })
    }

    /// The filter as stored: its canonical JSON text.
    pub fn parse_stored(text: &str) -> Option<Filter> {
        serde_json::from_str::<Value>(text).ok().and_then(|v| Filter::parse(&v).ok())
    }

    /// Whether the event matches: `data` and `changes` are the event's exact JSON texts. An evaluation that would take
    /// more than [`STEP_BUDGET`] steps (a large event walked by a filter over its lists) stops there and lets the
    /// event through: a filter may narrow what a webhook receives, but never lose an event to its own cost.
    pub fn matches(&self, event: &EventView<'_>) -> bool {
        self.evaluate(event, STEP_BUDGET).unwrap_or(true)
    }

    /// The outcome within `steps` values looked at, or `None` when it takes more.
    pub fn evaluate(&self, event: &EventView<'_>, steps: u32) -> Option<bool> {
        let budget = Budget { left: std::cell::Cell::new(steps), out: std::cell::Cell::new(false) };
        let root = Node::Event(event);
        let outcome = eval(&self.root, Some(&root), &budget);
        (!budget.out.get()).then_some(outcome)
    }
}

/// An object of the filter: all its members hold.
fn object(members: &Map<String, Value>, path: &mut Vec<String>) -> Result<Cond, Invalid> {
    if path.len() > MAX_DEPTH {
        return Err(refuse(path, format!("filters nest at most {MAX_DEPTH} levels")));
    }
    let mut all = Vec::with_capacity(members.len());
    for (key, value) in members {
        path.push(key.clone());
        all.push(member(key, value, path)?);
        path.pop();
    }
    Ok(Cond::All(all))
}

fn member(key: &str, value: &Value, path: &mut Vec<String>) -> Result<Cond, Invalid> {
    match key {
        "$and" | "$or" => {
            let Value::Array(items) = value else { return Err(refuse(path, format!("{key} takes a list of filters"))) };
            if items.is_empty() {
                return Err(refuse(path, format!("{key} needs at least one filter")));
            }
            let mut conds = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                let Value::Object(members) = item else { return Err(refuse(path, "each item is a filter object")) };
                conds.push(object(members, path)?);
                path.pop();
            }
            Ok(if key == "$and" { Cond::All(conds) } else { Cond::Any(conds) })
        }
        "$not" => match value {
            Value::Object(members) => Ok(Cond::Not(Box::new(object(members, path)?))),
            _ => Err(refuse(path, "$not takes a filter object")),
        },
        _ if key.starts_with('$') => {
            let op = Op::parse(key).ok_or_else(|| {
                refuse(path, format!("unknown operator {key}; the operators are $eq $neq $gt $gte $lt $lte $in $nin $startsWith $exist $and $or $not"))
            })?;
            Ok(Cond::Test(op, operand(op, value, path)?))
        }
        field => {
            let cond = match value {
                Value::Object(members) => object(members, path)?,
                Value::Array(_) => {
                    return Err(refuse(
                        path,
                        "a list is not a value to match; use {\"$in\": [...]} for one of several values",
                    ))
                }
                scalar => Cond::Test(Op::Eq, Literal::scalar(scalar).unwrap_or(Literal::Null)),
            };
            Ok(Cond::Field(field.to_string(), Box::new(cond)))
        }
    }
}

fn operand(op: Op, value: &Value, path: &[String]) -> Result<Literal, Invalid> {
    let name = path.last().map(String::as_str).unwrap_or("");
    match op {
        Op::Eq | Op::Neq => Literal::scalar(value)
            .ok_or_else(|| refuse(path, format!("{name} takes a string, number, boolean or null"))),
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => match value {
            Value::Number(_) | Value::String(_) => Ok(Literal::scalar(value).unwrap_or(Literal::Null)),
            _ => Err(refuse(path, format!("{name} takes a number or a string"))),
        },
        Op::In | Op::Nin => match value {
            Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(|item| {
                    Literal::scalar(item)
                        .ok_or_else(|| refuse(path, format!("{name} lists strings, numbers, booleans or null")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Literal::List),
            _ => Err(refuse(path, format!("{name} takes a non-empty list of values"))),
        },
        Op::StartsWith => match value {
            Value::String(s) => Ok(Literal::String(s.clone())),
            _ => Err(refuse(path, "$startsWith takes a string")),
        },
        Op::Exist => match value {
            Value::Bool(b) => Ok(Literal::Bool(*b)),
            _ => Err(refuse(path, "$exist takes true or false")),
        },
    }
}

/// Whether a stored filter lets the event through. A stored filter that no longer parses (it was valid when it was
/// stored; only a change of these rules could do that) lets everything through, as a filter over its budget does:
/// an event is never lost to a filter that cannot be evaluated.
pub fn stored_matches(filter: &str, event: &EventView<'_>) -> bool {
    Filter::parse_stored(filter).is_none_or(|f| f.matches(event))
}

/// One filter miss as the store's statements look for it (`store::sql::not_missed`): the event's and the webhook's
/// ids between line breaks, which neither can contain.
pub fn miss(event_id: &str, webhook_id: &str) -> String {
    format!("\n{event_id}\t{webhook_id}\n")
}

/// The event a filter looks at, as its receivers see it: `data` and `changes` are its exact JSON texts.
#[derive(Debug, Clone, Copy)]
pub struct EventView<'a> {
    pub id: &'a str,
    pub event_type: &'a str,
    pub data: &'a str,
    pub changes: Option<&'a str>,
}

/// A value of the event, read lazily from its text: numbers keep their text.
enum Node<'a> {
    Event(&'a EventView<'a>),
    Null,
    Bool(bool),
    Number(&'a str),
    String(String),
    Array(Vec<&'a RawValue>),
    Object(Vec<(String, &'a RawValue)>),
}

impl<'a> Node<'a> {
    fn read(raw: &'a RawValue) -> Node<'a> {
        let text = raw.get().trim_start();
        match text.as_bytes().first() {
            Some(b'{') => Node::Object(object_members(raw.get()).unwrap_or_default()),
            Some(b'[') => Node::Array(serde_json::from_str::<Vec<&RawValue>>(raw.get()).unwrap_or_default()),
            Some(b'"') => serde_json::from_str::<String>(raw.get()).map_or(Node::Null, Node::String),
            Some(b't') => Node::Bool(true),
            Some(b'f') => Node::Bool(false),
            Some(b'n') | None => Node::Null,
            Some(_) => Node::Number(text.trim_end()),
        }
    }

    fn text(text: &'a str) -> Node<'a> {
        match serde_json::from_str::<&RawValue>(text) {
            Ok(raw) => Node::read(raw),
            Err(_) => Node::Null,
        }
    }

    /// The field `name` of an object (or of the event).
    fn field(&self, name: &str) -> Option<Node<'a>> {
        match self {
            Node::Event(e) => match name {
                "id" => Some(Node::String(e.id.to_string())),
                "type" => Some(Node::String(e.event_type.to_string())),
                "data" => Some(Node::text(e.data)),
                "changes" => e.changes.map(Node::text),
                _ => None,
            },
            Node::Object(members) => members.iter().rev().find(|(k, _)| k == name).map(|(_, v)| Node::read(v)),
            _ => None,
        }
    }
}

/// The members of a JSON object in order, their values as raw text.
fn object_members(text: &str) -> Option<Vec<(String, &RawValue)>> {
    use serde::de::{Deserializer, MapAccess, Visitor};
    struct Members;
    impl<'de> Visitor<'de> for Members {
        type Value = Vec<(String, &'de RawValue)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
            let mut out = Vec::new();
            while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                out.push(entry);
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(Members).ok()
}

fn eval(cond: &Cond, value: Option<&Node<'_>>, budget: &Budget) -> bool {
    if !budget.spend() {
        return false;
    }
    match cond {
        Cond::All(conds) => conds.iter().all(|c| eval(c, value, budget)),
        Cond::Any(conds) => conds.iter().any(|c| eval(c, value, budget)),
        Cond::Not(c) => !eval(c, value, budget),
        Cond::Field(name, c) => match value {
            // A field below a list is looked for in each of its items.
            Some(Node::Array(items)) => items.iter().any(|item| eval(cond, Some(&Node::read(item)), budget)),
            Some(node) => match node.field(name) {
                // Fields looked for in a list: one item must meet all of them (`{"lines": {"sku": "B", "qty":
                // {"$gte": 5}}}` needs one line with both). Tests on a list see the whole list (`test`).
                Some(Node::Array(items)) if names_fields(c) => {
                    items.iter().any(|item| eval(c, Some(&Node::read(item)), budget))
                }
                child => eval(c, child.as_ref(), budget),
            },
            None => eval(c, None, budget),
        },
        Cond::Test(op, literal) => test(*op, literal, value, budget),
    }
}

/// Whether a condition looks at fields (rather than only testing the value it is given).
fn names_fields(cond: &Cond) -> bool {
    match cond {
        Cond::Field(..) => true,
        Cond::All(conds) | Cond::Any(conds) => conds.iter().any(names_fields),
        Cond::Not(c) => names_fields(c),
        Cond::Test(..) => false,
    }
}

fn test(op: Op, literal: &Literal, value: Option<&Node<'_>>, budget: &Budget) -> bool {
    match op {
        Op::Exist => matches!(literal, Literal::Bool(b) if *b == value.is_some()),
        Op::Neq => !test(Op::Eq, literal, value, budget),
        Op::Nin => !test(Op::In, literal, value, budget),
        _ => match value {
            None => false,
            // A condition on a list holds when it holds for one of its items.
            Some(Node::Array(items)) => {
                items.iter().any(|item| budget.spend() && scalar_test(op, literal, &Node::read(item), budget))
            }
            Some(node) => scalar_test(op, literal, node, budget),
        },
    }
}

fn scalar_test(op: Op, literal: &Literal, node: &Node<'_>, budget: &Budget) -> bool {
    match op {
        Op::Eq => equals(literal, node),
        Op::In => matches!(literal, Literal::List(items) if items.iter().any(|l| equals(l, node))),
        Op::StartsWith => matches!((literal, node), (Literal::String(p), Node::String(s)) if s.starts_with(p.as_str())),
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
            let order = match (literal, node) {
                (Literal::Number(l), Node::Number(n)) => compare_numbers(n, l),
                (Literal::String(l), Node::String(s)) => Some(s.as_str().cmp(l.as_str())),
                _ => None,
            };
            order.is_some_and(|o| match op {
                Op::Gt => o == Ordering::Greater,
                Op::Gte => o != Ordering::Less,
                Op::Lt => o == Ordering::Less,
                _ => o != Ordering::Greater,
            })
        }
        Op::Neq | Op::Nin | Op::Exist => test(op, literal, Some(node), budget),
    }
}

fn equals(literal: &Literal, node: &Node<'_>) -> bool {
    match (literal, node) {
        (Literal::Null, Node::Null) => true,
        (Literal::Bool(a), Node::Bool(b)) => a == b,
        (Literal::String(a), Node::String(b)) => a == b,
        (Literal::Number(a), Node::Number(b)) => compare_numbers(b, a) == Some(Ordering::Equal),
        _ => false,
    }
}

/// A JSON number's value as sign, significant digits and a decimal exponent: the value is `0.digits × 10^exp`.
fn decimal(text: &str) -> Option<(bool, Vec<u8>, i64)> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?.clamp(-1_000_000_000, 1_000_000_000)),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    let leading = digits.iter().take_while(|d| **d == 0).count();
    let mut significant = digits[leading..].to_vec();
    while significant.last() == Some(&0) {
        significant.pop();
    }
    let exp = int.len() as i64 - leading as i64 + exponent;
    Some((negative && !significant.is_empty(), significant, exp))
}

/// Compares two JSON numbers by value, exactly (no float in between); `None` if either is not a number.
pub fn compare_numbers(a: &str, b: &str) -> Option<Ordering> {
    let (a_negative, a_digits, a_exp) = decimal(a)?;
    let (b_negative, b_digits, b_exp) = decimal(b)?;
    let magnitude = |d: &[u8], e: i64, other: &[u8], other_e: i64| -> Ordering {
        match (d.is_empty(), other.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            _ => e.cmp(&other_e).then_with(|| d.cmp(other)),
        }
    };
    Some(match (a_negative, b_negative) {
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
        (false, false) => magnitude(&a_digits, a_exp, &b_digits, b_exp),
        (true, true) => magnitude(&b_digits, b_exp, &a_digits, a_exp),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event<'a>(data: &'a str) -> EventView<'a> {
        EventView { id: "evt_1", event_type: "deal.updated", data, changes: None }
    }

    fn matches(filter: Value, data: &str) -> bool {
        Filter::parse(&filter).unwrap().matches(&event(data))
    }

    #[test]
    fn numbers_compare_by_exact_value() {
        use Ordering::*;
        for (a, b, order) in [
            ("1.50", "1.5", Equal),
            ("1.5e0", "15e-1", Equal),
            ("0", "-0.0", Equal),
            ("100", "1e2", Equal),
            ("9007199254740993", "9007199254740992", Greater),
            ("18446744073709551617", "18446744073709551616", Greater),
            ("-18446744073709551617", "-18446744073709551616", Less),
            ("0.1", "0.10000000000000001", Less),
            ("-1", "0", Less),
            ("2", "10", Less),
            ("1e400", "1e399", Greater),
        ] {
            assert_eq!(compare_numbers(a, b), Some(order), "{a} vs {b}");
            assert_eq!(compare_numbers(b, a), Some(order.reverse()), "{b} vs {a}");
        }
        assert_eq!(compare_numbers("abc", "1"), None);
    }

    #[test]
    fn a_table_of_filters_and_events() {
        let data = r#"{"stage":"won","amount":12500.50,"big":9007199254740993,"owner":{"name":"Ada","region":"eu-west"},
            "tags":["new","vip"],"lines":[{"sku":"A","qty":2},{"sku":"B","qty":5}],"closed":true,"note":null}"#;
        for (filter, expected) in [
            (json!({}), true),
            (json!({"type": "deal.updated"}), true),
            (json!({"type": "deal.won"}), false),
            (json!({"data": {"stage": "won"}}), true),
            (json!({"data": {"stage": {"$neq": "won"}}}), false),
            (json!({"data": {"amount": 12500.5}}), true),
            (json!({"data": {"amount": {"$gte": 10000}}}), true),
            (json!({"data": {"amount": {"$gt": 12500.5}}}), false),
            (json!({"data": {"amount": {"$gte": 10000, "$lt": 12500.5}}}), false),
            (json!({"data": {"big": 9007199254740993u64}}), true),
            (json!({"data": {"big": 9007199254740992u64}}), false),
            (json!({"data": {"big": {"$gt": 9007199254740992u64}}}), true),
            (json!({"data": {"owner": {"name": "Ada"}}}), true),
            (json!({"data": {"owner": {"region": {"$startsWith": "eu-"}}}}), true),
            (json!({"data": {"owner": {"region": {"$startsWith": "us-"}}}}), false),
            (json!({"data": {"tags": "vip"}}), true),
            (json!({"data": {"tags": {"$in": ["churned", "vip"]}}}), true),
            (json!({"data": {"tags": {"$nin": ["vip"]}}}), false),
            (json!({"data": {"lines": {"sku": "B", "qty": {"$gte": 5}}}}), true),
            (json!({"data": {"lines": {"sku": "A", "qty": {"$gte": 5}}}}), false),
            (json!({"data": {"closed": true}}), true),
            (json!({"data": {"note": null}}), true),
            (json!({"data": {"note": {"$exist": true}}}), true),
            (json!({"data": {"missing": {"$exist": false}}}), true),
            (json!({"data": {"missing": "x"}}), false),
            (json!({"data": {"missing": {"$neq": "x"}}}), true),
            (json!({"data": {"missing": {"$gt": 1}}}), false),
            (json!({"data": {"missing": {"$nin": [1]}}}), true),
            (json!({"data": {"missing": null}}), false),
            (json!({"data": {"stage": {"$in": ["won", "lost"]}}}), true),
            (json!({"data": {"stage": {"$gt": "lost"}}}), true),
            (json!({"data": {"amount": {"$gt": "1"}}}), false),
            (json!({"$or": [{"data": {"stage": "lost"}}, {"data": {"amount": {"$gt": 10000}}}]}), true),
            (json!({"$and": [{"data": {"stage": "won"}}, {"data": {"closed": false}}]}), false),
            (json!({"$not": {"data": {"stage": "won"}}}), false),
            (json!({"data": {"$not": {"tags": "vip"}}}), false),
            (json!({"changes": {"$exist": false}}), true),
        ] {
            assert_eq!(matches(filter.clone(), data), expected, "{filter}");
        }
    }

    #[test]
    fn changes_and_id_are_visible() {
        let f = Filter::parse(&json!({"id": "evt_1", "changes": {"stage": {"from": "proposal"}}})).unwrap();
        let with = EventView { changes: Some(r#"{"stage":{"from":"proposal","to":"won"}}"#), ..event("{}") };
        assert!(f.matches(&with));
        assert!(!f.matches(&event("{}")));
    }

    #[test]
    fn a_bad_filter_names_its_position() {
        for (filter, position) in [
            (json!([1]), "the top level"),
            (json!({"data": {"amount": {"$gte": true}}}), "/data/amount/$gte"),
            (json!({"data": {"amount": {"$between": [1, 2]}}}), "/data/amount/$between"),
            (json!({"$or": []}), "/$or"),
            (json!({"$or": [{"a": 1}, 5]}), "/$or/1"),
            (json!({"$not": [1]}), "/$not"),
            (json!({"data": {"tags": ["vip"]}}), "/data/tags"),
            (json!({"data": {"x": {"$in": []}}}), "/data/x/$in"),
            (json!({"data": {"x": {"$in": [[1]]}}}), "/data/x/$in"),
            (json!({"data": {"x": {"$startsWith": 1}}}), "/data/x/$startsWith"),
            (json!({"data": {"x": {"$exist": "yes"}}}), "/data/x/$exist"),
            (json!({"a/b": {"$eq": {}}}), "/a~1b/$eq"),
        ] {
            let e = Filter::parse(&filter).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("filter"));
            assert!(e.message.contains(&format!("filter at {position}:")), "{filter}: {}", e.message);
        }
        let deep = (0..20).fold(json!(1), |inner, _| json!({ "a": inner }));
        assert!(Filter::parse(&deep).unwrap_err().message.contains("nest at most"));
        let long = json!({ "a": "x".repeat(MAX_FILTER_BYTES) });
        assert!(Filter::parse(&long).unwrap_err().message.contains("at most 4096 bytes"));
    }

    #[test]
    fn an_evaluation_over_its_budget_lets_the_event_through() {
        let items: Vec<String> = (0..5_000).map(|i| format!(r#"{{"sku":"s{i}","qty":{i}}}"#)).collect();
        let data = format!(r#"{{"lines":[{}]}}"#, items.join(","));
        let filter = Filter::parse(&json!({"data": {"lines": {"sku": "none", "qty": {"$gt": 1}}}})).unwrap();
        let view = event(&data);
        // Within budget it is a plain miss; with fewer steps than the lines it takes, it stops and lets it through.
        assert_eq!(filter.evaluate(&view, STEP_BUDGET), Some(false));
        assert_eq!(filter.evaluate(&view, 1_000), None);
        let small = Filter::parse(&json!({"type": "deal.updated"})).unwrap();
        assert_eq!(small.evaluate(&view, 3), Some(true));
    }

    #[test]
    fn a_stored_filter_reads_back() {
        let filter = json!({"data": {"amount": {"$gte": 1.50}}});
        assert_eq!(Filter::parse_stored(&filter.to_string()), Some(Filter::parse(&filter).unwrap()));
        assert_eq!(Filter::parse_stored("not json"), None);
        // A stored filter that cannot be read lets the event through rather than lose it.
        assert!(stored_matches("not json", &event("{}")));
        assert!(!stored_matches(r#"{"data":{"a":1}}"#, &event("{}")));
    }
}
