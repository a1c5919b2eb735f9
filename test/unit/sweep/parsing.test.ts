// The sweep's small parsers: --alpha-grid, the {model}/{alpha} substitution (what the shell then sees), and the
// evaluator's answer.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { UsageError } from "../../../core/errors.js";
import { expandCommand } from "../../../sweep/expandCommand.js";
import { parseAlphaGrid } from "../../../sweep/parseAlphaGrid.js";
import { parseEvaluatorResult } from "../../../sweep/parseEvaluatorResult.js";

const usage = (pattern: RegExp) => (e: unknown) => e instanceof UsageError && pattern.test(e.message);

describe("--alpha-grid", () => {
  it("counts from START by STEP up to STOP inclusive, in round numbers", () => {
    assert.deepEqual(parseAlphaGrid("0.1:0.5:0.1"), [0.1, 0.2, 0.3, 0.4, 0.5]);
    assert.deepEqual(parseAlphaGrid("0.25:1:0.25"), [0.25, 0.5, 0.75, 1]);
    assert.deepEqual(parseAlphaGrid("2.5:25:7.5"), [2.5, 10, 17.5, 25]);
    assert.deepEqual(parseAlphaGrid("0:1:0.3"), [0, 0.3, 0.6, 0.9], "STOP itself only when the steps land on it");
    assert.deepEqual(parseAlphaGrid("0.3:0.3:0.1"), [0.3]);
    assert.deepEqual(parseAlphaGrid("-0.5:-0.1:0.2"), [-0.5, -0.3, -0.1]);
  });

  it("refuses what is not a grid", () => {
    assert.throws(() => parseAlphaGrid("0.1:0.5"), usage(/expected START:STOP:STEP/));
    assert.throws(() => parseAlphaGrid("a:1:0.1"), usage(/expected START:STOP:STEP/));
    assert.throws(() => parseAlphaGrid("0.1::0.1"), usage(/expected START:STOP:STEP/));
    assert.throws(() => parseAlphaGrid("0:1:0"), usage(/STEP must be greater than 0/));
    assert.throws(() => parseAlphaGrid("0:1:-0.1"), usage(/STEP must be greater than 0/));
    assert.throws(() => parseAlphaGrid("1:0.5:0.1"), usage(/empty grid/));
    assert.throws(() => parseAlphaGrid("0:100:0.01"), usage(/10001 values \(at most 1000\)/));
  });
});

describe("{model} and {alpha} in --evaluate", () => {
  it("inserts plain paths, s3:// locations and numbers as they are", () => {
    assert.equal(
      expandCommand("python eval.py --model {model} --alpha {alpha} --tag a{alpha}", {
        model: "s3://b/m/expo-0.3",
        alpha: 0.3,
      }),
      "python eval.py --model s3://b/m/expo-0.3 --alpha 0.3 --tag a0.3",
    );
    assert.equal(expandCommand("x {alpha}", { model: "/m", alpha: -0.25 }), "x -0.25");
  });

  it("quotes anything else so that the shell passes it as one argument, unchanged", () => {
    for (const model of ["/models/my model", "/m/it's", "/m/$HOME/`x`", '/m/"q"\\n']) {
      const command = expandCommand("printf '%s\\n' {model}", { model, alpha: 0.5 });
      assert.equal(execFileSync("/bin/sh", ["-c", command], { encoding: "utf8" }), `${model}\n`);
    }
  });
});

describe("the evaluator's answer", () => {
  it("is a JSON object with a finite score; other numbers are kept as metrics, anything else ignored", () => {
    assert.deepEqual(parseEvaluatorResult('{"score": 1.5, "win_rate": 0.6, "n": 805, "model": "x", "ok": true}', "w"), {
      ok: true,
      evaluation: { score: 1.5, metrics: { win_rate: 0.6, n: 805 } },
    });
    assert.deepEqual(parseEvaluatorResult('{"score": -3}', "w"), { ok: true, evaluation: { score: -3, metrics: {} } });
  });

  it("says what is wrong otherwise", () => {
    const error = (text: string) => {
      const r = parseEvaluatorResult(text, "$EXPO_RESULT");
      assert.equal(r.ok, false);
      return (r as { error: string }).error;
    };
    assert.match(error("done"), /^\$EXPO_RESULT: not JSON \("done"\)$/);
    assert.match(error('{"score": NaN}'), /a non-finite number \(NaN\/Infinity\) is not JSON/);
    assert.match(error('{"score": Infinity}'), /non-finite/);
    assert.match(error("[1, 2]"), /not a JSON object/);
    assert.match(error('{"reward": 1}'), /"score" is missing, not a finite number/);
    assert.match(error('{"score": "1.5"}'), /"score" is "1.5", not a finite number/);
    assert.match(error('{"score": null}'), /"score" is null/);
  });
});
