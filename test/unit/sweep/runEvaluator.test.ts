// One evaluator run with real processes through /bin/sh: where the answer comes from, every way an evaluator
// fails (exit status, no answer, timeout, Ctrl-C) and that a timeout ends everything the command started.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { UsageError } from "../../../core/errors.js";
import { checkEvaluator } from "../../../sweep/checkEvaluator.js";
import { runEvaluator } from "../../../sweep/runEvaluator.js";
import { isAlive, readPid } from "../../support/sweepSupport.js";
import { tempDir } from "../../support/tempDir.js";

async function run(command: string, extra: { timeoutMs?: number; signal?: AbortSignal; staleAnswer?: string } = {}) {
  const dir = await tempDir();
  const resultFile = join(dir, "result.json");
  if (extra.staleAnswer) writeFileSync(resultFile, extra.staleAnswer);
  return runEvaluator({
    command,
    env: { ...process.env, EXPO_RESULT: resultFile, DIR: dir },
    resultFile,
    ...(extra.timeoutMs === undefined ? {} : { timeoutMs: extra.timeoutMs }),
    ...(extra.signal ? { signal: extra.signal } : {}),
  });
}

describe("runEvaluator", () => {
  it("reads $EXPO_RESULT first, else the last non-empty line of stdout", async () => {
    const file = await run(`echo '{"score": 1, "x": 2}' > "$EXPO_RESULT"; echo '{"score": 9}'`);
    assert.deepEqual(file.ok && file.evaluation, { score: 1, metrics: { x: 2 } });
    const stdout = await run(`echo loading; echo '{"score": 0.25}'; echo`);
    assert.deepEqual(stdout.ok && stdout.evaluation, { score: 0.25, metrics: {} });
    assert.ok(stdout.seconds >= 0);
  });

  it("never reads an answer left over from an earlier attempt", async () => {
    const r = await run("true", { staleAnswer: '{"score": 5}' });
    assert.deepEqual(r.ok ? r : { error: r.error }, {
      error: "no result: $EXPO_RESULT is empty and nothing was printed on stdout",
    });
  });

  it("fails on a non-zero exit with the last lines of stderr, and on an answer without a finite score", async () => {
    const r = await run(`for i in $(seq 1 30); do echo "line $i" >&2; done; echo '{"score": 1}'; exit 4`);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.error, "exit status 4");
    assert.equal(r.stderr.length, 20);
    assert.equal(r.stderr.at(-1), "line 30");
    assert.equal(r.interrupted, false);
    const nan = await run(`echo '{"score": NaN}'`);
    assert.match(nan.ok ? "" : nan.error, /^the last line of stdout: a non-finite number/);
    const killed = await run("kill -9 $$");
    assert.equal(killed.ok ? "" : killed.error, "killed by SIGKILL");
  });

  it("a timeout ends the command and everything it started", async () => {
    const dir = await tempDir();
    const r = await runEvaluator({
      command: `sleep 30 & echo $! > "${dir}/child"; sleep 30`,
      env: process.env,
      resultFile: join(dir, "r.json"),
      timeoutMs: 300,
    });
    assert.deepEqual(r.ok ? r : [r.error, r.interrupted], ["timed out after 0.3 s", false]);
    const child = await readPid(join(dir, "child"));
    for (let i = 0; i < 250 && isAlive(child); i++) await sleep(20);
    assert.ok(!isAlive(child), "the command's background child is gone too");
  });

  it("Ctrl-C (the signal) ends it as interrupted, child processes included", async () => {
    const dir = await tempDir();
    const stop = new AbortController();
    const pending = runEvaluator({
      command: `sleep 30 & echo $! > "${dir}/child"; wait`,
      env: process.env,
      resultFile: join(dir, "r.json"),
      signal: stop.signal,
    });
    const child = await readPid(join(dir, "child"));
    assert.ok(isAlive(child));
    stop.abort();
    const r = await pending;
    assert.deepEqual(r.ok ? r : [r.error, r.interrupted], ["interrupted", true]);
    for (let i = 0; i < 250 && isAlive(child); i++) await sleep(20);
    assert.ok(!isAlive(child), "the command's child is gone too");
  });
});

describe("checkEvaluator", () => {
  const usage = (pattern: RegExp) => (e: unknown) => e instanceof UsageError && pattern.test(e.message);

  it("finds the program after VAR=value assignments and quotes, on PATH or as a path", async () => {
    const dir = await tempDir();
    const script = join(dir, "my score.sh");
    writeFileSync(script, "#!/bin/sh\n", { mode: 0o755 });
    const env = { ...process.env, PATH: `${dir}:/usr/bin:/bin` };
    checkEvaluator(`CUDA_VISIBLE_DEVICES=0 'sh' -c 'echo 1'`, env);
    checkEvaluator(`A=1 B="x y" "${script}" --model /m`, env);
    checkEvaluator(`cd /tmp && ./anything`, env);
    checkEvaluator(`if true; then echo '{"score":1}'; fi`, env);
    checkEvaluator(`$RUNNER eval.py`, env);
    writeFileSync(join(dir, "scorer"), "#!/bin/sh\n", { mode: 0o755 });
    checkEvaluator("scorer /m", env);
    assert.throws(
      () => checkEvaluator("scorer /m", { ...env, PATH: "/usr/bin:/bin" }),
      usage(/scorer: no such program on PATH/),
    );
    writeFileSync(join(dir, "plain"), "#!/bin/sh\n", { mode: 0o644 });
    assert.throws(() => checkEvaluator(`${dir}/plain`, env), usage(/plain is not an executable file$/));
    assert.throws(
      () => checkEvaluator("./nope.sh x", env, dir),
      usage(/\.\/nope\.sh is not an executable file \(.*nope\.sh\)/),
    );
    assert.throws(() => checkEvaluator(`${dir}`, env), usage(/is not an executable file/));
    assert.throws(() => checkEvaluator("echo 'unclosed", env), usage(/not a valid shell command/));
    assert.throws(() => checkEvaluator("  ", env), usage(/the command is empty/));
  });
});
