// The dashboard's pure formatting, run by Node directly on the TypeScript source (type stripping).
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { indentJson, prettyBody, percent, duration, subscribedTo, pageSummary } from "../src/format.ts";

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

test("a pager counts pages while the total is exact, and says 'more than' past the cap", () => {
  const nouns = ["event", "events"];
  assert.deepEqual(pageSummary({ page: 1, total: 1, capped: false, pageSize: 25, shown: 1 }, nouns), { text: "Page 1 of 1 · 1 event", hasNext: false });
  assert.deepEqual(pageSummary({ page: 2, total: 60, capped: false, pageSize: 25, shown: 25 }, nouns), { text: "Page 2 of 3 · 60 events", hasNext: true });
  assert.deepEqual(pageSummary({ page: 3, total: 60, capped: false, pageSize: 25, shown: 10 }, nouns).hasNext, false);
  assert.deepEqual(pageSummary({ page: 1, total: 0, capped: false, pageSize: 25, shown: 0 }, nouns), { text: "Page 1 of 1 · 0 events", hasNext: false });
  const past = pageSummary({ page: 401, total: 10000, capped: true, pageSize: 25, shown: 25 }, nouns);
  assert.deepEqual(past, { text: "Page 401 · more than 10,000 events", hasNext: true });
  assert.equal(pageSummary({ page: 402, total: 10000, capped: true, pageSize: 25, shown: 3 }, nouns).hasNext, false, "a short page is the last");
});
