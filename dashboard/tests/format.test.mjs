// The dashboard's pure formatting, run by Node directly on the TypeScript source (type stripping).
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { indentJson, prettyBody, percent, duration, subscribedTo } from "../src/format.ts";

test("indentJson keeps every token as sent: number spelling, member order, duplicate keys, escapes", () => {
  const sent = '{"z":1.50,"a":[3e2,{}],"a":"dup","s":"a \\"quoted\\" {brace}, [x]: y","e":[],"n":null}';
  const shown = indentJson(sent);
  assert.equal(
    shown,
    '{\n  "z": 1.50,\n  "a": [\n    3e2,\n    {}\n  ],\n  "a": "dup",\n  "s": "a \\"quoted\\" {brace}, [x]: y",\n  "e": [],\n  "n": null\n}',
  );
});

test("indentJson changes only whitespace outside strings, for any JSON", () => {
  fc.assert(
    fc.property(fc.json(), (text) => {
      const shown = indentJson(text);
      assert.deepEqual(JSON.parse(shown), JSON.parse(text));
      assert.equal(indentJson(shown), shown, "idempotent");
    }),
    { numRuns: 300 },
  );
});

test("text that is not JSON is shown as it came", () => {
  assert.equal(indentJson('{"open": "never closed'), '{"open": "never closed');
  assert.equal(prettyBody("<img src=x onerror=alert(1)>"), "<img src=x onerror=alert(1)>");
  assert.equal(prettyBody('{"ok":true}'), '{\n  "ok": true\n}');
  assert.equal(prettyBody(null), "");
});

test("rates and durations read naturally", () => {
  assert.equal(percent(null), "—");
  assert.equal(percent(0), "0%");
  assert.equal(percent(0.0512), "5.1%");
  assert.equal(percent(0.25), "25%");
  assert.equal(duration(87.4), "87 ms");
  assert.equal(duration(1534), "1.53 s");
});

test("subscribedTo matches patterns as the Worker does: `*`, exact names, and `resource.*` one level deep", () => {
  const cases = [
    [["*"], "deal.won", true],
    [["deal.won"], "deal.won", true],
    [["deal.won"], "deal.lost", false],
    [["deal.*"], "deal.won", true],
    [["deal.*"], "deal.stage.changed", false],
    [["deal.*"], "dealer.won", false],
    [["lead.*", "deal.won"], "deal.won", true],
    [[], "deal.won", false],
  ];
  for (const [patterns, type, expected] of cases) assert.equal(subscribedTo(patterns, type), expected, `${patterns} ${type}`);
});
