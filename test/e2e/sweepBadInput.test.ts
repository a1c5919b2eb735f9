// `llm-expo sweep` refuses bad usage with exit 2 and one line before anything is written: no candidate, no
// report, no journal, inputs byte-identical, and what was at a candidate's or the report's place untouched.
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { runCli } from "../support/runCli.js";
import { EVALUATE } from "../support/sweepSupport.js";
import { tempDir } from "../support/tempDir.js";
import { writeTinyPair } from "../support/tinyLlama.js";
import { folderDigest } from "../support/writeCheckpoint.js";

interface Case {
  name: string;
  /** Flags replacing or adding to the defaults (a flag given here drops the default one). */
  args: (p: { dir: string; sft: string; dpo: string }) => string[];
  /** Default flags to leave out. */
  without?: string[];
  /** Something already at the sweep's places before it runs. */
  prepare?: (p: { dir: string; dpo: string }) => void;
  says: string[];
}

const cases: Case[] = [
  { name: "no --evaluate", args: () => [], without: ["--evaluate"], says: ["missing --evaluate"] },
  {
    name: "an evaluator program that is not on PATH",
    args: () => ["--evaluate", "no-such-evaluator-xyz {model}"],
    says: ["--evaluate: no-such-evaluator-xyz: no such program on PATH"],
  },
  {
    name: "an evaluator script that is not executable",
    prepare: ({ dir }) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "score.sh"), "#!/bin/sh\necho '{\"score\": 1}'\n", { mode: 0o644 });
    },
    args: ({ dir }) => ["--evaluate", `EXTRA=1 ${join(dir, "score.sh")} --model {model}`],
    says: ["score.sh is not an executable file"],
  },
  {
    name: "a relative evaluator path that is not there",
    args: () => ["--evaluate", "./missing-score.sh {model}"],
    says: ["--evaluate: ./missing-score.sh is not an executable file"],
  },
  {
    name: "an evaluator command the shell cannot parse",
    args: () => ["--evaluate", `${EVALUATE} ((`],
    says: ["--evaluate: not a valid shell command"],
  },
  { name: "an empty grid", args: () => ["--alpha-grid", "1:0.5:0.1"], says: ["--alpha-grid 1:0.5:0.1", "empty grid"] },
  { name: "a grid step of 0", args: () => ["--alpha-grid", "0:1:0"], says: ["STEP must be greater than 0"] },
  {
    name: "a grid without three numbers",
    args: () => ["--alpha-grid", "0.1:0.5"],
    says: ["--alpha-grid 0.1:0.5", "START:STOP:STEP"],
  },
  {
    name: "a grid that gives α = 0",
    args: () => ["--alpha-grid", "-0.5:0.5:0.5"],
    says: ["--alpha-grid -0.5:0.5:0.5 gives 0", "aligned model θ1 itself"],
  },
  {
    name: "a grid that gives α = −1",
    args: () => ["--alpha-grid", "-1:-0.5:0.5"],
    says: ["--alpha-grid -1:-0.5:0.5 gives -1", "base model θ0 itself"],
  },
  { name: "no --report", args: () => [], without: ["--report"], says: ["missing --report"] },
  {
    name: "a grid with --out instead of --out-template",
    args: ({ dir }) => ["--out", join(dir, "a")],
    without: ["--out-template"],
    says: ["--alpha-grid names its outputs with --out-template"],
  },
  {
    name: "a report inside an input",
    args: ({ dpo }) => ["--report", join(dpo, "sweep")],
    says: ["--report", "inside the input", "dpo"],
  },
  {
    name: "a candidate's place holding another checkpoint",
    prepare: ({ dir, dpo }) => cpSync(dpo, join(dir, "expo-0.5"), { recursive: true }),
    args: () => [],
    says: ["expo-0.5: already holds a checkpoint without expo-report.json", "--overwrite replaces it"],
  },
  {
    name: "the journal of another sweep at the report's place",
    prepare: ({ dir }) => {
      mkdirSync(join(dir, "report"), { recursive: true });
      const start = { type: "start", version: 1, sweepId: "0123456789abcdef01234567", createdAt: "2025-01-01" };
      writeFileSync(join(dir, "report", "sweep-journal.jsonl"), `${JSON.stringify(start)}\n`);
    },
    args: () => [],
    says: ["sweep-journal.jsonl: the journal of another sweep", "--evaluate"],
  },
  {
    name: "--eval-concurrency 0",
    args: () => ["--eval-concurrency", "0"],
    says: ["--eval-concurrency 0: must be a whole number >= 1"],
  },
  { name: "--eval-timeout -1", args: () => ["--eval-timeout=-1"], says: ["--eval-timeout -1", "seconds > 0"] },
];

describe("llm-expo sweep refuses bad usage with exit 2 before anything is written", () => {
  let root: string;
  let sft: string;
  let dpo: string;
  before(async () => {
    root = await tempDir("llm-expo-sweep-bad-");
    ({ sft, dpo } = await writeTinyPair(join(root, "pair")));
  });

  for (const [i, c] of cases.entries()) {
    it(c.name, async () => {
      const dir = join(root, `case-${i}`);
      c.prepare?.({ dir, dpo });
      const before = snapshot(dir);
      const inputs = [await folderDigest(sft), await folderDigest(dpo)];
      const extra = c.args({ dir, sft, dpo });
      const given = new Set([
        ...extra.filter((a) => a.startsWith("--")).map((a) => a.split("=")[0]),
        ...(c.without ?? []),
      ]);
      const defaults: Array<[string, string]> = [
        ["--alpha-grid", "0.25:1:0.25"],
        ["--out-template", join(dir, "expo-{alpha}")],
        ["--evaluate", EVALUATE],
        ["--report", join(dir, "report")],
      ];
      const r = await runCli([
        "sweep",
        "--base",
        sft,
        "--aligned",
        dpo,
        ...defaults.filter(([flag]) => !given.has(flag)).flat(),
        ...extra,
      ]);
      assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `one line: ${r.stderr}`);
      assert.match(lines[0] as string, /^llm-expo: /);
      for (const s of c.says) assert.ok(lines[0]?.includes(s), `"${lines[0]}" should mention ${s}`);
      assert.equal(r.stdout, "");
      assert.deepEqual(snapshot(dir), before, "nothing written, nothing changed at the sweep's places");
      assert.deepEqual([await folderDigest(sft), await folderDigest(dpo)], inputs, "inputs untouched");
    });
  }
});

/** Every path under a folder with its size and mtime (undefined: no folder). */
function snapshot(dir: string): Record<string, string> | undefined {
  if (!existsSync(dir)) return undefined;
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      out[p] = st.isDirectory() ? "dir" : `${st.size}-${st.mtimeMs}`;
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}
