//! `make bench-transform`: what a transformation costs, beside the floor of reading and writing the same event.
//!
//! Runs natively (the Worker runs the same code as wasm, typically 1.5 to 2 times slower; the ratios hold). For each
//! preset and for `.` (the identity): microseconds per run on a catalogue example event, and the ratio to the floor,
//! `serde_json` parsing the event and writing it back. Also what compiling a program costs once per isolate (runs
//! reuse the compiled program), and the steps each takes of the budget.

use std::hint::black_box;
use std::time::Instant;

use edgehook::domain::payload::{build, sample_data, DeliveryBody};
use edgehook::domain::transform::{Program, PRESETS, STEP_BUDGET};

fn micros_per(runs: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..runs / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..runs {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(runs)
}

fn main() {
    let data = sample_data("opportunity.won").to_string();
    let event = build(&DeliveryBody {
        event_id: "evt_0123456789abcdefghijklmnop",
        event_type: "opportunity.won",
        timestamp: "2026-12-05T08:00:00.000Z",
        organization_id: "org_bench",
        delivery_id: "dlv_0123456789abcdefghijklmnop",
        data: &data,
        changes: None,
        test: false,
    })
    .expect("a sample event");
    let runs = 20_000;
    let floor = micros_per(runs, || {
        let v: serde_json::Value = serde_json::from_str(black_box(&event)).expect("json");
        black_box(serde_json::to_string(&v).expect("written"));
    });
    println!("event: {} bytes (opportunity.won's catalogue example); {runs} runs each", event.len());
    println!("{:<28} {:>10} {:>12} {:>10} {:>14}", "program", "µs/run", "× floor", "steps", "compile µs");
    println!("{:<28} {:>10.2} {:>12} {:>10} {:>14}", "floor: serde_json read+write", floor, "1.00", "-", "-");
    let identity = ("identity", "`.`", ".");
    for (name, _, source) in std::iter::once(identity).chain(PRESETS) {
        let mut n = 0u32;
        let compile = micros_per(200, || {
            // A new text each time, so the per-isolate cache cannot answer.
            n += 1;
            black_box(Program::compile(&format!("{source} | . # {n}")).expect("compiles"));
        });
        let program = Program::compile(source).expect("compiles");
        let steps = program.run(&event, || 0).steps;
        let run = micros_per(runs, || {
            black_box(program.run(black_box(&event), || 0).body.expect("a body"));
        });
        println!("{:<28} {:>10.2} {:>11.2}× {:>10} {:>14.0}", name, run, run / floor, steps, compile);
    }
    println!("budget: {STEP_BUDGET} steps per run");
}
