// Metrics as an operator sees them: a real Prometheus scrapes a coordinator and its workers (separate
// processes); its query API shows the job's bytes and the norm statistics of expo-report.json; both
// endpoints pass `promtool check metrics`.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { CliProcess } from "../../support/processes.js";
import { startCoordinator, startWorker } from "../../support/processes.js";
import { freePort, PROMETHEUS, PROMTOOL, Prometheus } from "../../support/prometheus.js";
import { runCli } from "../../support/runCli.js";
import { tempDir } from "../../support/tempDir.js";
import { waitUntil } from "../../support/waitUntil.js";

const missing = !PROMETHEUS || !PROMTOOL ? "prometheus/promtool not installed (.ci/run installs them)" : false;
// .ci/run installs them and sets LLM_EXPO_REQUIRE_TOOLS: there, a missing tool is a failure, not a skip.
if (missing && process.env.LLM_EXPO_REQUIRE_TOOLS) throw new Error(`${missing} but LLM_EXPO_REQUIRE_TOOLS is set`);

interface Report {
  output: { shards: Array<{ parts: Array<{ size: number }> }> };
  statistics: {
    model: { normBase: number; normAligned: number; normDelta: number; normOutput: number };
    tensors: Record<string, { relativeShift: number }>;
  };
}

describe("Prometheus scraping coordinator and workers", { skip: missing }, () => {
  const processes: CliProcess[] = [];
  let prometheus: Prometheus | undefined;
  after(() => {
    prometheus?.stop();
    for (const p of processes) p.kill("SIGKILL");
  });

  it("shows bytes written and the norm gauges of expo-report.json; promtool accepts both endpoints", async () => {
    const root = await tempDir();
    const made = await runCli(["make-example", root, "--size", "4MiB", "--seed", "5"]);
    assert.equal(made.code, 0, made.stderr);
    const out = join(root, "out");
    const env = { LLM_EXPO_TOKEN: randomBytes(16).toString("hex") };
    const job = ["--base", join(root, "sft"), "--aligned", join(root, "dpo"), "--alpha", "0.4", "--out", out];
    const c = await startCoordinator([...job, "--unit-size", "256KiB"], {
      env,
      metrics: true,
      // Lingers until the test has read the final values (SIGTERM ends it).
      extra: ["--linger", "120"],
    });
    processes.push(c.proc);
    // Prometheus first, so it scrapes the workers from their first second.
    const ports = [await freePort(), await freePort()];
    const targets = [c.metricsPort, ...ports].map((p) => `127.0.0.1:${p}`);
    prometheus = await Prometheus.start(targets);
    const p = prometheus;
    await waitUntil(
      async () => (await p.query(`up{instance="${targets[0]}"}`))[0]?.value === 1,
      "Prometheus scraping the coordinator",
    );
    const workers = ports.map((port) => {
      const w = startWorker(
        c.grpcPort,
        [
          "--concurrency",
          "1",
          "--metrics-port",
          String(port),
          "--metrics-host",
          "127.0.0.1",
          "--inject-faults",
          "delay-ms=500",
        ],
        env,
      );
      processes.push(w);
      return w;
    });
    await Promise.all(workers.map((w) => w.waitFor((l) => l.msg === "worker ready")));

    // promtool on both kinds of endpoint while the job runs.
    for (const port of [c.metricsPort, ports[0]]) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(text, /^expo_bytes_written_total\{role="(coordinator|worker)"\} /m);
      execFileSync(PROMTOOL as string, ["check", "metrics"], { input: text });
    }

    for (const w of workers) assert.equal((await w.exited).code, 0, w.stderr);
    await c.proc.waitFor((l) => l.msg === "job phase" && l.to === "lingering", 60_000, "the commit");
    const report = JSON.parse(readFileSync(join(out, "expo-report.json"), "utf8")) as Report;
    const written = report.output.shards.flatMap((s) => s.parts).reduce((n, p) => n + p.size, 0);
    const m = report.statistics.model;
    const [tensor, shift] = Object.entries(report.statistics.tensors)[0] as [string, { relativeShift: number }];

    // The coordinator lingers after committing: Prometheus catches up with the final values.
    const value = async (expr: string) => (await prometheus?.query(expr))?.[0]?.value;
    let bytes: number | undefined;
    await waitUntil(
      async () => (bytes = await value('expo_bytes_written_total{role="coordinator"}')) === written,
      "Prometheus scraping the final bytes",
    ).catch(() => undefined);
    assert.equal(bytes, written, `expo_bytes_written_total; prometheus log:\n${prometheus.log()}`);
    const close = (got: number | undefined, want: number, what: string) =>
      assert.ok(got !== undefined && Math.abs(got - want) <= 1e-12 * Math.abs(want), `${what}: ${got} vs ${want}`);
    close(await value('expo_param_norm{model="base"}'), m.normBase, "norm of θ0");
    close(await value('expo_param_norm{model="aligned"}'), m.normAligned, "norm of θ1");
    close(await value('expo_param_norm{model="output",alpha="0.4"}'), m.normOutput, "norm of θ2");
    close(await value("expo_delta_norm"), m.normDelta, "norm of θ1 − θ0");
    close(await value(`expo_tensor_relative_shift{tensor="${tensor}"}`), shift.relativeShift, tensor);
    assert.equal(await value('expo_units{state="done"}'), report.output.shards.flatMap((s) => s.parts).length);
    // The workers were scraped too, with their own share of the bytes.
    const up = await prometheus.query('max_over_time(up{job="llm-expo"}[5m])');
    assert.deepEqual(up.map((s) => s.metric.instance).sort(), [...targets].sort());
    assert.ok(up.every((s) => s.value === 1));
    const workerBytes = await value('sum(max_over_time(expo_bytes_written_total{role="worker"}[5m]))');
    assert.ok(workerBytes !== undefined && workerBytes > 0 && workerBytes <= written);
    c.proc.kill("SIGTERM");
    assert.equal((await c.proc.exited).code, 0, c.proc.stderr);
  });
});
