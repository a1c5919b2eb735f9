// deploy/prometheus and deploy/grafana against the code: `promtool check rules` passes, and every metric
// the rules and the dashboard name, with every label value they match exactly, is exported by a real
// coordinator and worker (their live /metrics while a job runs and after it is done) or by a real sweep
// (its /metrics once its report is written). Plus the container image's files: the Dockerfile runs
// deploy/build.sh and ends non-root on `llm-expo`.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import { CHART, REPO, renderChart } from "../../support/helmChart.js";
import { CliProcess, startCoordinator, startWorker } from "../../support/processes.js";
import { PROMTOOL } from "../../support/prometheus.js";
import { runCli } from "../../support/runCli.js";
import { EVALUATE } from "../../support/sweepSupport.js";
import { tempDir } from "../../support/tempDir.js";
import { writeTinyPair } from "../../support/tinyLlama.js";
import { waitUntil } from "../../support/waitUntil.js";

const missing = PROMTOOL ? false : "promtool not installed (.ci/run installs it)";
if (missing && process.env.LLM_EXPO_REQUIRE_TOOLS) throw new Error(`${missing} but LLM_EXPO_REQUIRE_TOOLS is set`);

const RULES = join(REPO, "deploy", "prometheus", "rules.yaml");
const DASHBOARD = join(REPO, "deploy", "grafana", "llm-expo.json");

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
}

function ruleExprs(): string[] {
  const doc = parse(readFileSync(RULES, "utf8")) as { groups: Array<{ rules: Rule[] }> };
  return doc.groups.flatMap((g) => g.rules.map((r) => r.expr));
}

function dashboardExprs(): string[] {
  const dash = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
    panels: Array<{ type: string; targets?: Array<{ expr: string }> }>;
    templating: { list: Array<{ definition?: string }> };
  };
  const panels = dash.panels.filter((p) => p.type !== "row");
  assert.ok(panels.length >= 8);
  for (const p of panels) assert.ok(p.targets?.length, "every panel queries something");
  return [
    ...panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ...dash.templating.list.flatMap((v) => (v.definition ? [v.definition] : [])),
  ];
}

/** Metric names in a PromQL expression (ours and the default process metrics), with their exact matchers. */
function selectors(expr: string): Array<{ name: string; labels: Record<string, string> }> {
  const out: Array<{ name: string; labels: Record<string, string> }> = [];
  for (const m of expr.matchAll(/\b((?:expo|process|nodejs)_[a-z0-9_]+)\s*(\{[^}]*\})?/g)) {
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-z_]+)\s*=\s*"([^"]*)"/g)) labels[l[1] as string] = l[2] as string;
    out.push({ name: m[1] as string, labels });
  }
  return out;
}

/** Series of a Prometheus text exposition: name and labels of every sample line. */
function series(text: string): Array<{ name: string; labels: Record<string, string> }> {
  const out: Array<{ name: string; labels: Record<string, string> }> = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) labels[l[1] as string] = l[2] as string;
    out.push({ name: m[1] as string, labels });
  }
  return out;
}

describe("Prometheus rules and Grafana dashboard", { skip: missing }, () => {
  const live: Array<{ name: string; labels: Record<string, string> }> = [];
  const processes: CliProcess[] = [];
  after(() => {
    for (const p of processes) p.kill("SIGKILL");
  });

  before(async () => {
    if (missing) return;
    const root = await tempDir();
    const made = await runCli(["make-example", root, "--size", "2MiB", "--seed", "9"]);
    assert.equal(made.code, 0, made.stderr);
    const env = { LLM_EXPO_TOKEN: randomBytes(16).toString("hex") };
    const job = [
      "--base",
      join(root, "sft"),
      "--aligned",
      join(root, "dpo"),
      "--alpha",
      "0.3",
      "--out",
      join(root, "out"),
    ];
    const c = await startCoordinator([...job, "--unit-size", "256KiB"], {
      env,
      metrics: true,
      // Lingers until the final values are scraped (SIGTERM ends it).
      extra: ["--linger", "120"],
    });
    processes.push(c.proc);
    const scrape = async (port: number | undefined) => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      live.push(...series(text));
      return text;
    };
    await scrape(c.metricsPort);
    const w = startWorker(
      c.grpcPort,
      ["--concurrency", "1", "--metrics-port", "0", "--metrics-host", "127.0.0.1", "--inject-faults", "delay-ms=300"],
      env,
    );
    processes.push(w);
    const ready = await w.waitFor((l) => l.msg === "worker ready");
    await scrape(ready.metricsPort as number);
    await w.waitFor((l) => l.msg === "unit done", 60_000, "a unit done");
    await scrape(c.metricsPort);
    assert.equal((await w.exited).code, 0, w.stderr);
    // The coordinator lingers after committing: its final values, job state "done" included.
    await waitUntil(
      async () => /^expo_job_state\{state="done",role="coordinator"\} 1$/m.test(await scrape(c.metricsPort)),
      "the job state done",
    );
    // SIGTERM ends the linger, not a commit in progress: wait for the linger.
    await c.proc.waitFor((l) => l.msg === "job phase" && l.to === "lingering", 60_000, "the linger");
    c.proc.kill("SIGTERM");
    assert.equal((await c.proc.exited).code, 0, c.proc.stderr);
    // A sweep, scraped once its report is written (it lingers; SIGTERM ends the linger).
    const pair = await writeTinyPair(join(root, "tiny"));
    const sweep = new CliProcess([
      "sweep",
      "--base",
      pair.sft,
      "--aligned",
      pair.dpo,
      "--alpha",
      "0.5",
      "--alpha",
      "1",
      "--out-template",
      join(root, "sweep", "expo-{alpha}"),
      "--evaluate",
      EVALUATE,
      "--report",
      join(root, "sweep", "report"),
      "--metrics-port",
      "0",
      "--linger",
      "60",
    ]);
    processes.push(sweep);
    const listening = await sweep.waitFor((l) => l.msg === "sweep metrics listening", 60_000);
    await sweep.waitFor((l) => l.msg.startsWith("serving metrics"), 60_000, "the sweep's linger");
    const sweepText = await scrape(listening.metricsPort as number);
    assert.match(sweepText, /^expo_sweep_score\{alpha="0\.5",role="sweep"\} -?\d/m);
    sweep.kill("SIGTERM");
    assert.equal((await sweep.exited).code, 0, sweep.stderr);
  });

  it("passes promtool check rules", () => {
    const out = execFileSync(PROMTOOL as string, ["check", "rules", RULES], { encoding: "utf8" });
    assert.match(out, /SUCCESS: \d+ rules found/);
  });

  it("has recording rules for throughput and alerts for a stalled job, failing units and missing workers", () => {
    const doc = parse(readFileSync(RULES, "utf8")) as { groups: Array<{ rules: Rule[] }> };
    const rules = doc.groups.flatMap((g) => g.rules);
    const records = rules.flatMap((r) => (r.record ? [r.record] : []));
    const alerts = rules.flatMap((r) => (r.alert ? [r.alert] : []));
    for (const r of [
      "llm_expo:bytes_read:rate5m",
      "llm_expo:bytes_written:rate5m",
      "llm_expo:worker_bytes_read:rate5m",
    ])
      assert.ok(records.includes(r), r);
    for (const a of [
      "LlmExpoJobStalled",
      "LlmExpoUnitsRetrying",
      "LlmExpoUnitsFailed",
      "LlmExpoNoWorkers",
      "LlmExpoSweepEvaluationFailed",
    ])
      assert.ok(alerts.includes(a), a);
  });

  for (const [what, exprs] of [
    ["rules", ruleExprs],
    ["dashboard", dashboardExprs],
  ] as const) {
    it(`names only metrics and label values the coordinator and worker export (${what})`, () => {
      const names = new Set(live.map((s) => s.name));
      assert.ok(
        names.has("expo_job_state") && names.has("expo_worker_units_total") && names.has("expo_sweep_best"),
        "scraped the coordinator, the worker and the sweep",
      );
      let checked = 0;
      for (const expr of exprs()) {
        for (const sel of selectors(expr)) {
          assert.ok(names.has(sel.name), `${what}: ${sel.name} is not exported (in ${expr})`);
          const exact = Object.entries(sel.labels);
          const found = live.some((s) => s.name === sel.name && exact.every(([k, v]) => s.labels[k] === v));
          assert.ok(found, `${what}: no ${sel.name} with ${JSON.stringify(sel.labels)} is exported (in ${expr})`);
          checked++;
        }
      }
      assert.ok(checked >= 10, `${checked} selectors checked`);
    });
  }

  it("groups by labels that the scrape config and the chart's PodMonitor attach", () => {
    const grouping = new Set<string>();
    for (const expr of [...ruleExprs(), ...dashboardExprs()]) {
      for (const m of expr.matchAll(/\bby \(([^)]*)\)/g))
        for (const l of (m[1] as string).split(",")) grouping.add(l.trim());
      for (const m of expr.matchAll(/\b([a-z_]+)=~"\$/g)) grouping.add(m[1] as string);
    }
    const exported = new Set(live.flatMap((s) => Object.keys(s.labels)));
    const scrape = parse(readFileSync(join(REPO, "deploy", "prometheus", "scrape-config.yaml"), "utf8")) as {
      scrape_configs: Array<{ relabel_configs: Array<{ target_label?: string }> }>;
    };
    const attached = new Set(scrape.scrape_configs.flatMap((s) => s.relabel_configs.map((r) => r.target_label)));
    const monitor = renderChart({ values: [join(CHART, "ci", "podmonitor-values.yaml")] }).find(
      (o) => o.kind === "PodMonitor",
    );
    const fromMonitor = new Set<string>([
      "namespace",
      "pod",
      ...(monitor?.spec.podTargetLabels as string[]).map((l) => l.replace(/[./-]/g, "_")),
    ]);
    for (const l of grouping) {
      if (exported.has(l) || l === "le") continue;
      assert.ok(attached.has(l), `scrape-config.yaml does not attach ${l}`);
      assert.ok(fromMonitor.has(l), `the PodMonitor does not attach ${l}`);
    }
  });
});

describe("container image files", () => {
  const dockerfile = readFileSync(join(REPO, "deploy", "Dockerfile"), "utf8");

  it("builds with deploy/build.sh on a CUDA devel base and runs non-root on the matching CUDA base", () => {
    const froms = [...dockerfile.matchAll(/^FROM (\S+)(?: AS (\S+))?$/gm)].map((m) => m[1]?.replaceAll("$", ""));
    assert.deepEqual(froms, [
      "node:{NODE_VERSION}-bookworm-slim",
      "nvidia/cuda:{CUDA_VERSION}-devel-{UBUNTU}",
      "nvidia/cuda:{CUDA_VERSION}-base-{UBUNTU}",
    ]);
    assert.match(dockerfile, /^RUN bash deploy\/build\.sh \/opt\/llm-expo && bash deploy\/smoke\.sh \/opt\/llm-expo$/m);
    const users = [...dockerfile.matchAll(/^USER (\S+)$/gm)].map((m) => m[1]);
    assert.deepEqual(users, ["10001:10001"]);
    assert.match(dockerfile, /^ENTRYPOINT \["llm-expo"\]$/m);
    // The chart's pods run as that user.
    const values = parse(readFileSync(join(CHART, "values.yaml"), "utf8")) as {
      podSecurityContext: { runAsUser: number; runAsGroup: number };
      coordinator: { grpcPort: number };
      metrics: { port: number };
    };
    assert.equal(`${values.podSecurityContext.runAsUser}:${values.podSecurityContext.runAsGroup}`, users[0]);
    assert.match(dockerfile, new RegExp(`^EXPOSE ${values.coordinator.grpcPort} ${values.metrics.port}$`, "m"));
  });

  it("keeps build outputs and dependencies out of the build context", () => {
    const ignored = readFileSync(join(REPO, ".dockerignore"), "utf8").split("\n");
    for (const p of ["node_modules", "dist", "kernel/build", "kernel/build-cuda", ".git"])
      assert.ok(ignored.includes(p), p);
    // What deploy/build.sh needs is not ignored.
    for (const p of ["deploy", "kernel", "proto", "package.json", "test", "bench"]) assert.ok(!ignored.includes(p), p);
  });
});
