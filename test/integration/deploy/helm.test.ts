// The Helm chart as a cluster would receive it: `helm lint --strict` and `helm template` with each
// example values file (CPU, GPU, existing Secrets, IRSA, PodMonitor), every rendered object validated
// against the Kubernetes schemas (kubernetes-models, prometheus-operator models), and the wiring
// between the objects asserted: Service DNS name and ports, probes, Secrets and their keys, GPU
// limits, security context, labels, the job spec the coordinator reads.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { describe, it } from "node:test";
import { resolveJobSpec } from "../../../cli/jobOptions.js";
import {
  CHART,
  ciValuesFiles,
  HELM,
  lintChart,
  mergedValues,
  type Obj,
  renderChart,
  renderError,
  validateObject,
} from "../../support/helmChart.js";

const missing = HELM ? false : "helm not installed (.ci/run builds it into ~/.cache/llm-expo/bin)";
// .ci/run builds it and sets LLM_EXPO_REQUIRE_TOOLS: there, a missing tool is a failure, not a skip.
if (missing && process.env.LLM_EXPO_REQUIRE_TOOLS) throw new Error(`${missing} but LLM_EXPO_REQUIRE_TOOLS is set`);

const NAMESPACE = "expo-jobs";
const STANDARD_LABELS = [
  "app.kubernetes.io/name",
  "app.kubernetes.io/instance",
  "app.kubernetes.io/version",
  "app.kubernetes.io/managed-by",
  "helm.sh/chart",
];

function one(objects: Obj[], kind: string, nameSuffix: string): Obj {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix));
  assert.equal(found.length, 1, `one ${kind} named *${nameSuffix}: ${found.map((o) => o.metadata.name)}`);
  return found[0] as Obj;
}

/** The value of `--flag=value` in a container's args. */
function flag(args: string[], name: string): string | undefined {
  const hit = args.find((a) => a.startsWith(`--${name}=`));
  return hit?.slice(name.length + 3);
}

function matches(selector: Record<string, string>, labels: Record<string, string> = {}): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

const cases: Array<{ name: string; file?: string }> = [
  { name: "defaults" },
  ...ciValuesFiles().map((file) => ({ name: basename(file, "-values.yaml"), file })),
];

describe("Helm chart helm/llm-expo", { skip: missing }, () => {
  it("has example values for CPU, GPU, existing Secrets, IRSA, a PodMonitor and TLS", () => {
    assert.deepEqual(
      cases.map((c) => c.name),
      ["defaults", "cpu", "existing-secret", "gpu", "irsa", "podmonitor", "sweep", "tls"],
    );
  });

  for (const c of cases) {
    describe(`with ${c.name} values`, () => {
      const values = mergedValues(c.file);
      const objects = missing ? [] : renderChart({ values: c.file ? [c.file] : [], namespace: NAMESPACE });
      const coordinatorJob = () => one(objects, "Job", "-coordinator");
      const workerJob = () => one(objects, "Job", "-worker");
      const service = () => one(objects, "Service", "-coordinator");
      const pod = (job: Obj) => job.spec.template.spec;
      const container = (job: Obj) => pod(job).containers[0];

      it("passes helm lint --strict", () => {
        assert.match(lintChart(c.file), /1 chart\(s\) linted, 0 chart\(s\) failed/);
      });

      it("renders only objects valid against the Kubernetes schemas, with the standard labels", () => {
        const kinds = objects.map((o) => o.kind).sort();
        const expected = ["ConfigMap", "Job", "Job", "Service"];
        if (!values.token.existingSecret) expected.push("Secret");
        if (values.serviceAccount.create) expected.push("ServiceAccount");
        if (values.metrics.podMonitor.enabled) expected.push("PodMonitor");
        // An α sweep adds the evaluation Job and the report Job.
        if (values.sweep.enabled) expected.push("Job", "Job");
        assert.deepEqual(kinds, expected.sort());
        for (const o of objects) {
          validateObject(o);
          for (const l of STANDARD_LABELS)
            assert.ok(o.metadata.labels?.[l], `${o.kind} ${o.metadata.name}: label ${l}`);
          assert.equal(o.metadata.labels?.["app.kubernetes.io/instance"], "expo");
          assert.ok(o.metadata.name.length <= 63, o.metadata.name);
        }
        for (const [job, component] of [
          [coordinatorJob(), "coordinator"],
          [workerJob(), "worker"],
        ] as const) {
          assert.equal(job.metadata.labels?.["app.kubernetes.io/component"], component);
          const podLabels = job.spec.template.metadata.labels;
          for (const l of STANDARD_LABELS) assert.ok(podLabels[l], `${component} pod label ${l}`);
          assert.equal(podLabels["app.kubernetes.io/component"], component);
          // Room for the Job controller's pod-name suffix.
          assert.ok(job.metadata.name.length <= 52, job.metadata.name);
        }
      });

      it("points the workers at the coordinator Service's DNS name and gRPC port", () => {
        const svc = service();
        const grpc = svc.spec.ports.find((p: { name: string }) => p.name === "grpc");
        const address = flag(container(workerJob()).args, "coordinator");
        assert.equal(address, `${svc.metadata.name}.${NAMESPACE}.svc.cluster.local:${grpc.port}`);
        assert.equal(grpc.port, values.coordinator.grpcPort);
        // The Service selects the coordinator pod and only it.
        assert.ok(matches(svc.spec.selector, coordinatorJob().spec.template.metadata.labels));
        assert.ok(!matches(svc.spec.selector, workerJob().spec.template.metadata.labels));
      });

      it("agrees on ports: Service, container ports, CLI flags and probes", () => {
        const svc = service();
        const coordinator = container(coordinatorJob());
        const cPorts: Record<string, number> = Object.fromEntries(
          coordinator.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]),
        );
        assert.deepEqual({ ...cPorts }, { grpc: values.coordinator.grpcPort, metrics: values.metrics.port });
        for (const p of svc.spec.ports) {
          assert.equal(cPorts[p.targetPort], p.port, `Service port ${p.name} -> ${p.targetPort}`);
        }
        assert.equal(flag(coordinator.args, "listen"), `0.0.0.0:${cPorts.grpc}`);
        assert.equal(Number(flag(coordinator.args, "metrics-port")), cPorts.metrics);
        for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
          // gRPC health probes, except with TLS (Kubernetes gRPC probes cannot speak it): /healthz.
          if (values.tls.existingSecret)
            assert.deepEqual(
              coordinator[probe].httpGet,
              { path: "/healthz", port: cPorts.metrics },
              `coordinator ${probe}`,
            );
          else assert.deepEqual(coordinator[probe].grpc, { port: cPorts.grpc }, `coordinator ${probe}`);
        }
        const worker = container(workerJob());
        assert.deepEqual(worker.ports, [{ name: "metrics", containerPort: values.metrics.port, protocol: "TCP" }]);
        assert.equal(Number(flag(worker.args, "metrics-port")), values.metrics.port);
        for (const probe of ["readinessProbe", "livenessProbe"]) {
          assert.deepEqual(worker[probe].httpGet, { path: "/healthz", port: values.metrics.port }, `worker ${probe}`);
        }
        const annotated = values.metrics.podAnnotations && !values.metrics.podMonitor.enabled;
        for (const job of [coordinatorJob(), workerJob()]) {
          const a = job.spec.template.metadata.annotations ?? {};
          assert.equal(a["prometheus.io/scrape"], annotated ? "true" : undefined);
          if (annotated) assert.equal(a["prometheus.io/port"], String(values.metrics.port));
        }
      });

      it("hands both processes the S3 endpoint and addressing style as flags, the region in the environment", () => {
        for (const job of [coordinatorJob(), workerJob()]) {
          const args = container(job).args as string[];
          assert.equal(flag(args, "s3-endpoint"), values.s3.endpoint || undefined, job.metadata.name);
          const style = String(values.s3.pathStyle);
          assert.equal(args.includes("--s3-path-style"), style === "true", job.metadata.name);
          assert.equal(args.includes("--no-s3-path-style"), style === "false", job.metadata.name);
          const env = container(job).env as Array<{ name: string; value?: string }>;
          assert.equal(env.find((e) => e.name === "AWS_REGION")?.value, values.s3.region);
          assert.ok(!env.some((e) => e.name.startsWith("LLM_EXPO_S3_")), "no settings through private variables");
        }
      });

      it("references only Secrets, keys and ConfigMaps that exist", () => {
        const secrets = new Map<string, Set<string>>();
        for (const s of objects.filter((o) => o.kind === "Secret"))
          secrets.set(s.metadata.name, new Set(Object.keys(s.data ?? {})));
        // Secrets the values say exist beforehand, with the keys the values name.
        if (values.token.existingSecret) secrets.set(values.token.existingSecret, new Set([values.token.key]));
        if (values.tls.existingSecret)
          secrets.set(values.tls.existingSecret, new Set(["tls.crt", "tls.key", "ca.crt"]));
        if (values.s3.existingSecret) {
          const keys = [values.s3.accessKeyIdKey, values.s3.secretAccessKeyKey, values.s3.sessionTokenKey];
          secrets.set(values.s3.existingSecret, new Set(keys.filter(Boolean)));
        }
        const has = (name: string, key: string, where: string) =>
          assert.ok(secrets.get(name)?.has(key), `${where}: Secret ${name} key ${key}`);
        for (const job of [coordinatorJob(), workerJob()]) {
          const spec = pod(job);
          for (const v of spec.volumes.filter((v: Obj) => v.secret)) {
            for (const item of v.secret.items) has(v.secret.secretName, item.key, `${job.metadata.name} volume`);
          }
          const env = container(job).env as Array<{ name: string; valueFrom?: Obj }>;
          for (const e of env.filter((e) => e.valueFrom?.secretKeyRef)) {
            const ref = e.valueFrom?.secretKeyRef;
            has(ref.name, ref.key, `${job.metadata.name} env ${e.name}`);
          }
          const names = env.map((e) => e.name);
          assert.equal(names.includes("AWS_ACCESS_KEY_ID"), Boolean(values.s3.existingSecret));
          assert.equal(
            names.includes("AWS_SESSION_TOKEN"),
            Boolean(values.s3.existingSecret && values.s3.sessionTokenKey),
          );
          // The token file both processes read is the token Secret's key.
          const mount = container(job).volumeMounts.find((m: Obj) => m.name === "token");
          const tokenVolume = spec.volumes.find((v: Obj) => v.name === "token");
          assert.equal(
            flag(container(job).args, "token-file"),
            `${mount.mountPath}/${tokenVolume.secret.items[0].path}`,
          );
          const tokenSecret = values.token.existingSecret || `expo-llm-expo-token`;
          assert.equal(tokenVolume.secret.secretName, tokenSecret);
          // ServiceAccount: the rendered one, or the existing one named in values.
          if (values.serviceAccount.create) {
            assert.equal(spec.serviceAccountName, one(objects, "ServiceAccount", "").metadata.name);
          } else {
            assert.equal(spec.serviceAccountName, values.serviceAccount.name || "default");
          }
        }
        if (!values.token.existingSecret) {
          const generated = one(objects, "Secret", "-token");
          assert.ok(Buffer.from(generated.data[values.token.key], "base64").toString().length >= 32);
        }
        const coordinator = pod(coordinatorJob());
        const specVolume = coordinator.volumes.find((v: Obj) => v.configMap);
        const cm = one(objects, "ConfigMap", "-spec");
        assert.equal(specVolume.configMap.name, cm.metadata.name);
        const specMount = container(coordinatorJob()).volumeMounts.find((m: Obj) => m.name === specVolume.name);
        assert.equal(flag(container(coordinatorJob()).args, "spec"), `${specMount.mountPath}/job.yaml`);
        assert.ok(cm.data["job.yaml"]);
      });

      it("writes a job spec the CLI reads as the values say", async () => {
        const cm = one(objects, "ConfigMap", "-spec");
        const file = join(mkdtempSync(join(tmpdir(), "expo-spec-")), "job.yaml");
        writeFileSync(file, cm.data["job.yaml"]);
        const spec = await resolveJobSpec({ spec: file });
        const job = values.job;
        assert.equal(spec.base, job.base);
        assert.equal(spec.aligned, job.aligned);
        assert.deepEqual(spec.alphas, job.alpha);
        const outs = job.outTemplate
          ? job.alpha.map((a: number) => job.outTemplate.replace("{alpha}", String(a)))
          : job.out;
        assert.deepEqual(spec.outs, outs);
      });

      it("uses TLS exactly when tls.existingSecret: the coordinator its cert and key, the workers its CA only", () => {
        const files = (job: Obj, flags: string[]) => {
          const c = container(job);
          const mount = c.volumeMounts.find((m: Obj) => m.name === "tls");
          const volume = pod(job).volumes.find((v: Obj) => v.name === "tls");
          if (!values.tls.existingSecret) {
            for (const f of flags) assert.equal(flag(c.args, f), undefined, `no --${f}`);
            assert.equal(mount, undefined);
            assert.equal(volume, undefined);
            return;
          }
          assert.equal(volume.secret.secretName, values.tls.existingSecret);
          const paths = volume.secret.items.map((i: { key: string; path: string }) => `${mount.mountPath}/${i.path}`);
          assert.deepEqual(
            flags.map((f) => flag(c.args, f)),
            paths,
            `${job.metadata.name}: --${flags.join(", --")} name the mounted Secret's files`,
          );
          return volume.secret.items.map((i: { key: string }) => i.key);
        };
        const coordinatorKeys = files(coordinatorJob(), ["tls-cert", "tls-key"]);
        const workerKeys = files(workerJob(), ["tls-ca"]);
        if (values.tls.existingSecret) {
          assert.deepEqual(coordinatorKeys, ["tls.crt", "tls.key"]);
          assert.deepEqual(workerKeys, ["ca.crt"], "workers never get the private key");
        }
      });

      it("asks for GPUs exactly when gpu.enabled, and for none on the coordinator", () => {
        const worker = container(workerJob());
        const coordinator = container(coordinatorJob());
        const gpu = values.gpu.enabled;
        assert.equal(worker.resources.limits?.["nvidia.com/gpu"], gpu ? values.gpu.count : undefined);
        assert.equal(worker.resources.requests?.["nvidia.com/gpu"], undefined);
        assert.equal(coordinator.resources.limits?.["nvidia.com/gpu"], undefined);
        assert.equal(flag(worker.args, "device"), gpu ? "cuda" : "cpu");
        const visible = (c: Obj) => c.env.find((e: Obj) => e.name === "NVIDIA_VISIBLE_DEVICES")?.value;
        assert.equal(visible(worker), gpu ? undefined : "void");
        assert.equal(visible(coordinator), "void");
        // Values' memory limits survive the GPU limit being added.
        assert.equal(worker.resources.limits.memory, values.worker.resources.limits.memory);
        assert.deepEqual(
          pod(workerJob()).nodeSelector,
          Object.keys(values.worker.nodeSelector).length ? values.worker.nodeSelector : undefined,
        );
        assert.deepEqual(
          pod(workerJob()).tolerations,
          values.worker.tolerations.length ? values.worker.tolerations : undefined,
        );
        assert.equal(pod(workerJob()).priorityClassName, values.priorityClassName || undefined);
      });

      it("runs non-root with a read-only root filesystem, no privilege escalation, no capabilities", () => {
        for (const job of [coordinatorJob(), workerJob()]) {
          const spec = pod(job);
          assert.equal(spec.securityContext.runAsNonRoot, true);
          assert.ok(spec.securityContext.runAsUser > 0);
          const sc = container(job).securityContext;
          assert.equal(sc.allowPrivilegeEscalation, false);
          assert.equal(sc.readOnlyRootFilesystem, true);
          assert.deepEqual(sc.capabilities.drop, ["ALL"]);
          assert.equal(sc.capabilities.add, undefined);
          const tmp = container(job).volumeMounts.find((m: Obj) => m.mountPath === "/tmp");
          assert.ok(spec.volumes.find((v: Obj) => v.name === tmp?.name)?.emptyDir, "/tmp is an emptyDir");
          assert.equal(spec.automountServiceAccountToken, false);
        }
      });

      it("makes the coordinator a restartable Job that never overlaps its pods, and the workers a work-queue Job with a pod failure policy", () => {
        const c = coordinatorJob().spec;
        assert.equal(c.template.spec.restartPolicy, "OnFailure");
        assert.equal(c.completions, 1);
        assert.equal(c.backoffLimit, values.coordinator.backoffLimit);
        // No second coordinator pod while the first still terminates; the output lease covers the rest.
        assert.equal(c.podReplacementPolicy, "Failed");
        assert.equal(
          flag(container(coordinatorJob()).args, "output-lease-ttl"),
          String(values.coordinator.outputLeaseTtl),
        );
        assert.deepEqual(container(coordinatorJob()).env.find((e: Obj) => e.name === "POD_NAME")?.valueFrom, {
          fieldRef: { fieldPath: "metadata.name" },
        });
        const w = workerJob().spec;
        // completions unset: the Job succeeds once one worker exits 0 (the job is done) and all pods ended.
        assert.equal(w.completions, undefined);
        assert.equal(w.parallelism, values.worker.replicas);
        assert.equal(w.completionMode, "NonIndexed");
        assert.equal(w.template.spec.restartPolicy, "Never");
        assert.equal(w.backoffLimit, values.worker.backoffLimit);
        assert.deepEqual(w.podFailurePolicy.rules, [
          { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget" }] },
          { action: "Ignore", onExitCodes: { containerName: "worker", operator: "In", values: [143] } },
          { action: "FailJob", onExitCodes: { containerName: "worker", operator: "In", values: [2] } },
        ]);
        // Room for the worker's drain between SIGTERM and SIGKILL.
        assert.ok(w.template.spec.terminationGracePeriodSeconds > values.worker.drainTimeout);
        for (const job of [c, w]) assert.equal(job.ttlSecondsAfterFinished, 86400);
      });

      it("annotates the ServiceAccount for IRSA when a role is given; a PodMonitor selects every pod", () => {
        if (values.serviceAccount.create) {
          const sa = one(objects, "ServiceAccount", "");
          assert.equal(
            sa.metadata.annotations?.["eks.amazonaws.com/role-arn"],
            values.serviceAccount.irsaRoleArn || undefined,
          );
        }
        if (values.metrics.podMonitor.enabled) {
          const pm = one(objects, "PodMonitor", "");
          for (const job of [coordinatorJob(), workerJob()]) {
            assert.ok(matches(pm.spec.selector.matchLabels, job.spec.template.metadata.labels));
            const ports = container(job).ports.map((p: Obj) => p.name);
            for (const e of pm.spec.podMetricsEndpoints)
              assert.ok(ports.includes(e.port), `${e.port} on ${job.metadata.name}`);
          }
          assert.ok(pm.spec.podTargetLabels.includes("app.kubernetes.io/instance"));
        }
      });
    });
  }

  it("refuses values the schema rules out", () => {
    assert.match(renderError({ set: ["job.alpha[0]=-1"] }), /alpha/);
    assert.match(renderError({ setJson: ["job.alpha=[-1]"] }), /\/job\/alpha\/0/);
    assert.match(renderError({ setJson: ["job.alpha=[0]"] }), /\/job\/alpha\/0/);
    assert.match(renderError({ setJson: ["job.alpha=[-1.5]"] }), /\/job\/alpha\/0/);
    const sweepWithout = renderError({ set: ["sweep.enabled=true"] });
    for (const missing of ["/sweep/report'", "/sweep/evaluation/command'", "/sweep/evaluation/image/repository'"])
      assert.ok(sweepWithout.includes(missing), `${missing} in ${sweepWithout}`);
    assert.match(renderError({ values: [join(CHART, "ci", "sweep-values.yaml")], set: ["sweep.keep=some"] }), /keep/);
    assert.match(renderError({ set: ["worker.replicas=0"] }), /replicas/);
    assert.match(renderError({ set: ["job.unitsize=1GiB"] }), /unitsize|additional/i);
    // The job spec's schema (cli/jobSpecSchema.ts): the same keys and types `--spec` accepts.
    assert.match(renderError({ set: ["job.unit_sise=1GiB"] }), /unit_sise|additional/i);
    assert.match(renderError({ set: ["job.outDtype=fp8"] }), /outDtype/);
    assert.match(renderError({ set: ["job.arith=torchh"] }), /arith/);
    assert.match(renderError({ set: ["serviceAccount.irsaRoleArn=not-an-arn"] }), /irsaRoleArn/);
    assert.match(renderError({ set: ["gpu.enabled=yes"] }), /gpu/);
  });

  it("accepts −1 < α < 0 (interpolation) in the job spec", () => {
    const cm = renderChart({ setJson: ["job.alpha=[-0.5,0.3]", 'job.out=["s3://b/i","s3://b/e"]'] }).find(
      (o) => o.kind === "ConfigMap",
    );
    assert.match(cm?.data["job.yaml"], /^alpha:\n- -0\.5\n- 0\.3\n/m);
  });

  it("generates a new token per install (a live cluster's lookup keeps it across upgrades)", () => {
    const token = (objects: Obj[]) => one(objects, "Secret", "-token").data.token;
    assert.notEqual(token(renderChart()), token(renderChart()));
  });
});
