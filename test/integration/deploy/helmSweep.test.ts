// The chart's α sweep: how the evaluation Job and the report Job are wired (Indexed completions, one per
// candidate plus the baseline; the init container that waits for the commit and writes the environment the
// evaluator sources; GPU resources and placement of their own; the report Job's flags and metrics port), and
// then the same rendered containers run on this machine against local folders, in the order Kubernetes would
// run them: an evaluation pod's init container waiting for a job that has not started, the job, every
// evaluation pod (the tiny Llama evaluator as the user's command), the report Job.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { CHART, HELM, mergedValues, type Obj, renderChart } from "../../support/helmChart.js";
import { CliProcess } from "../../support/processes.js";
import { runCli } from "../../support/runCli.js";
import { argmax, EVALUATOR, independentScores } from "../../support/sweepSupport.js";
import { tempDir } from "../../support/tempDir.js";
import { writeTinyPair } from "../../support/tinyLlama.js";

const missing = HELM ? false : "helm not installed (.ci/run builds it into ~/.cache/llm-expo/bin)";
if (missing && process.env.LLM_EXPO_REQUIRE_TOOLS) throw new Error(`${missing} but LLM_EXPO_REQUIRE_TOOLS is set`);

const SWEEP_VALUES = join(CHART, "ci", "sweep-values.yaml");

function job(objects: Obj[], component: string): Obj {
  const found = objects.filter(
    (o) => o.kind === "Job" && o.metadata.labels?.["app.kubernetes.io/component"] === component,
  );
  assert.equal(found.length, 1, component);
  return found[0] as Obj;
}

function flag(args: string[], name: string): string | undefined {
  return args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

/** The mount path of the volume a container mounts under `name`. */
function mountOf(container: Obj, name: string): string {
  const m = (container.volumeMounts as Obj[]).find((v) => v.name === name);
  assert.ok(m, `${container.name} mounts ${name}`);
  return m.mountPath;
}

describe("Helm chart: the α sweep", { skip: missing }, () => {
  const values = mergedValues(SWEEP_VALUES);
  const objects = missing ? [] : renderChart({ values: [SWEEP_VALUES] });

  it("evaluates each candidate and the baseline in an Indexed Job with retries, and reports in a Job after it", () => {
    const evaluation = job(objects, "sweep-evaluation").spec;
    assert.equal(evaluation.completionMode, "Indexed");
    assert.equal(evaluation.completions, values.job.alpha.length + 1, "one completion per candidate plus the baseline");
    assert.equal(evaluation.parallelism, values.sweep.evaluation.parallelism);
    assert.equal(evaluation.backoffLimitPerIndex, values.sweep.evaluation.retries);
    assert.equal(evaluation.template.spec.restartPolicy, "Never");
    assert.deepEqual(evaluation.podFailurePolicy.rules, [
      { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget" }] },
      { action: "FailIndex", onExitCodes: { containerName: "wait", operator: "In", values: [2] } },
    ]);
    for (const component of ["sweep-evaluation", "sweep-report"]) {
      const j = job(objects, component);
      assert.ok(j.metadata.name.length <= 52, j.metadata.name);
      assert.equal(j.spec.template.metadata.labels["app.kubernetes.io/component"], component);
    }
    assert.equal(job(objects, "sweep-report").spec.template.spec.restartPolicy, "Never");
  });

  it("the init container waits for the pod's candidate and hands the evaluator its environment through a file", () => {
    const pod = job(objects, "sweep-evaluation").spec.template.spec;
    const [wait] = pod.initContainers as Obj[];
    const [evaluate] = pod.containers as Obj[];
    assert.equal(wait?.name, "wait");
    assert.equal(wait?.args[0], "sweep-wait");
    // The job spec the coordinator reads, from the same ConfigMap.
    const cm = objects.find((o) => o.kind === "ConfigMap") as Obj;
    const specVolume = (pod.volumes as Obj[]).find((v) => v.configMap) as Obj;
    assert.equal(specVolume.configMap.name, cm.metadata.name);
    assert.equal(flag(wait?.args, "spec"), `${mountOf(wait as Obj, specVolume.name)}/job.yaml`);
    assert.equal(flag(wait?.args, "report"), values.sweep.report);
    // The index comes from the pod's completion index.
    assert.equal(flag(wait?.args, "index"), "$(EXPO_INDEX)");
    const index = (wait?.env as Obj[]).find((e) => e.name === "EXPO_INDEX");
    assert.equal(
      index?.valueFrom.fieldRef.fieldPath,
      "metadata.annotations['batch.kubernetes.io/job-completion-index']",
    );
    // The file it writes lies in the emptyDir both containers mount; the evaluator's shell sources exactly it.
    const envOut = flag(wait?.args, "env-out") as string;
    const shared = mountOf(wait as Obj, "sweep-env");
    assert.ok(envOut.startsWith(`${shared}/`));
    assert.equal(mountOf(evaluate as Obj, "sweep-env"), shared);
    assert.ok((pod.volumes as Obj[]).find((v) => v.name === "sweep-env")?.emptyDir);
    assert.deepEqual(evaluate?.command.slice(0, 2), ["/bin/sh", "-c"]);
    assert.equal(evaluate?.command[2], `. ${envOut} && exec timeout ${values.sweep.evaluation.timeoutSeconds} "$@"`);
    assert.deepEqual(evaluate?.args, [...values.sweep.evaluation.command, ...values.sweep.evaluation.args]);
    assert.equal(evaluate?.image, `${values.sweep.evaluation.image.repository}:${values.sweep.evaluation.image.tag}`);
    // The chart's container keeps the chart's security; the user's is the user's.
    assert.equal(wait?.securityContext.runAsNonRoot, true);
    assert.equal(wait?.securityContext.readOnlyRootFilesystem, true);
    assert.equal(wait?.securityContext.runAsUser, values.podSecurityContext.runAsUser);
    assert.equal(evaluate?.securityContext, undefined);
  });

  it("gives the evaluation pods GPU resources and placement of their own, and S3 credentials", () => {
    const pod = job(objects, "sweep-evaluation").spec.template.spec;
    const [evaluate] = pod.containers as Obj[];
    assert.deepEqual(evaluate?.resources, values.sweep.evaluation.resources);
    assert.equal(evaluate?.resources.limits["nvidia.com/gpu"], 1);
    assert.deepEqual(pod.nodeSelector, values.sweep.evaluation.nodeSelector);
    assert.deepEqual(pod.tolerations, values.sweep.evaluation.tolerations);
    assert.notDeepEqual(pod.nodeSelector, job(objects, "worker").spec.template.spec.nodeSelector);
    const env = (evaluate?.env as Obj[]).map((e) => e.name);
    for (const name of ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "HF_TOKEN"])
      assert.ok(env.includes(name), name);
    assert.ok((evaluate?.volumeMounts as Obj[]).some((m) => m.mountPath === "/dev/shm"));
    // The init container needs no GPU.
    const [wait] = pod.initContainers as Obj[];
    assert.equal(wait?.resources.limits["nvidia.com/gpu"], undefined);
    assert.equal((wait?.env as Obj[]).find((e) => e.name === "NVIDIA_VISIBLE_DEVICES")?.value, "void");
  });

  it("runs the report Job with the sweep's report location, keep policy and a metrics port Prometheus scrapes", () => {
    const pod = job(objects, "sweep-report").spec.template;
    const [report] = pod.spec.containers as Obj[];
    assert.equal(report?.args[0], "sweep-report");
    assert.equal(flag(report?.args, "report"), values.sweep.report);
    assert.equal(flag(report?.args, "keep"), values.sweep.keep);
    assert.equal(Number(flag(report?.args, "wait-timeout")), values.sweep.reportJob.waitTimeout);
    const port = (report?.ports as Obj[]).find((p) => p.name === "metrics");
    assert.equal(Number(flag(report?.args, "metrics-port")), port?.containerPort);
    assert.equal(pod.metadata.annotations["prometheus.io/port"], String(port?.containerPort));
    assert.equal(report?.readinessProbe.httpGet.port, port?.containerPort);
    assert.equal(flag(report?.args, "spec"), `${mountOf(report as Obj, "spec")}/job.yaml`);
  });

  describe("the rendered containers, run here against local folders", () => {
    let root: string;
    let rendered: Obj[];
    let pair: { sft: string; dpo: string };
    const alphas = [0.25, 0.5, 0.75];

    before(async () => {
      if (missing) return;
      root = await tempDir("llm-expo-helm-sweep-");
      pair = await writeTinyPair(join(root, "pair"));
      const file = join(root, "values.yaml");
      writeFileSync(
        file,
        JSON.stringify({
          job: {
            base: pair.sft,
            aligned: pair.dpo,
            alpha: alphas,
            outTemplate: join(root, "out", "expo-{alpha}"),
            unitSize: "4KiB",
          },
          sweep: {
            enabled: true,
            report: join(root, "sweep"),
            keep: "best",
            evaluation: {
              image: { repository: "evaluator" },
              command: [process.execPath, EVALUATOR],
              parallelism: 2,
              timeoutSeconds: 600,
            },
          },
        }),
      );
      rendered = renderChart({ values: [file] });
    });

    /** A path in a pod, mapped into this test's folders: the same files the containers would share. */
    const inPod = (pod: string, text: string) =>
      text
        .replaceAll("/etc/llm-expo", join(root, "etc"))
        .replaceAll("/var/run/llm-expo-sweep", join(root, pod, "sweep-env"));

    it("wait → job → evaluation pods → report: the scores the test computes itself, the best kept", async () => {
      const cm = rendered.find((o) => o.kind === "ConfigMap") as Obj;
      mkdirSync(join(root, "etc"), { recursive: true });
      writeFileSync(join(root, "etc", "job.yaml"), cm.data["job.yaml"]);
      const evaluation = job(rendered, "sweep-evaluation").spec;
      const [wait] = evaluation.template.spec.initContainers as Obj[];
      const [evaluate] = evaluation.template.spec.containers as Obj[];
      const initArgs = (i: number) =>
        (wait?.args as string[]).map((a) => inPod(`pod-${i}`, a.replace("$(EXPO_INDEX)", String(i))));

      // Index 3's init container starts first and waits: the coordinator has not committed anything.
      const early = new CliProcess([...initArgs(3), "--poll=0.2"]);
      await early.waitFor(
        (l) => l.msg.startsWith("waiting for candidate α = 0.75") && l.msg.endsWith("not committed yet"),
      );
      // The coordinator and its workers, here as `run` with the same spec file.
      const ran = await runCli(["run", "--spec", join(root, "etc", "job.yaml")]);
      assert.equal(ran.code, 0, ran.stderr);
      assert.equal((await early.exited).code, 0, early.stderr);

      for (let i = 0; i < evaluation.completions; i++) {
        if (i !== 3) {
          const r = await runCli(initArgs(i));
          assert.equal(r.code, 0, r.stderr);
        }
        const command = (evaluate?.command as string[]).map((c) => inPod(`pod-${i}`, c));
        const env: Record<string, string> = { PATH: process.env.PATH ?? "" };
        for (const e of evaluate?.env as Obj[]) if (typeof e.value === "string") env[e.name] = e.value;
        const code = await new Promise<number | null>((resolve) => {
          const child = spawn(command[0] as string, [...command.slice(1), ...(evaluate?.args as string[])], {
            env,
            stdio: "inherit",
          });
          child.on("exit", resolve);
        });
        assert.equal(code, 0, `evaluation pod ${i}`);
      }
      const answers = JSON.parse(readFileSync(join(root, "sweep", "results", "alpha-0.5.json"), "utf8"));
      assert.deepEqual(Object.keys(answers), ["score", "perplexity", "tokens"]);

      const [report] = job(rendered, "sweep-report").spec.template.spec.containers as Obj[];
      const reportArgs = (report?.args as string[])
        .map((a) => inPod("report", a))
        .map((a) =>
          a.startsWith("--metrics-port=") ? "--metrics-port=0" : a.startsWith("--linger=") ? "--linger=0" : a,
        );
      const r = await runCli([...reportArgs, "--log-level=warn"]);
      assert.equal(r.code, 0, r.stderr);
      const scores = independentScores(pair.sft, pair.dpo, alphas);
      const written = JSON.parse(readFileSync(join(root, "sweep", "sweep.json"), "utf8"));
      assert.deepEqual(
        [written.baseline.score, ...written.results.map((x: { score: number }) => x.score)],
        [0, ...alphas].map((a) => scores.get(a)),
      );
      const best = argmax(scores);
      assert.equal(written.best.alpha, best);
      for (const a of alphas) assert.equal(existsSync(join(root, "out", `expo-${a}`)), a === best, `expo-${a}`);
    });
  });
});
