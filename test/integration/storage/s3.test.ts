// The S3 integration suite, run against each real server: s3rver (npm, always) and MinIO (built by
// .ci/run). Outputs over S3 must be bit-identical to the local run; errors are one clear line with
// exit 2 where they can be known before writing; faults on the wire do not change a bit.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import type { S3Client } from "@aws-sdk/client-s3";
import { getObject, listKeys, openUploads, putObject, testClient } from "../../../harness/s3Objects.js";
import { type S3Server, s3StorageSettings, startMinio, startS3rver } from "../../../harness/s3Servers.js";
import { S3Storage } from "../../../storage/s3Storage.js";
import { startFaultProxy } from "../../support/faultProxy.js";
import { startCoordinator, startWorker } from "../../support/processes.js";
import { jobArgs, runCli } from "../../support/runCli.js";
import { assertSameAsLocal, dataSection } from "../../support/s3Output.js";
import { s3Reference } from "../../support/s3Reference.js";

const BUCKETS = ["models", "outputs"];
const UNIT = ["--unit-size", "5MiB"];

const servers: Array<[string, () => Promise<S3Server | undefined>]> = [
  ["s3rver", () => startS3rver(BUCKETS)],
  ["MinIO", () => startMinio(BUCKETS)],
];

function oneLineError(stderr: string): string {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line: ${stderr}`);
  return lines[0] as string;
}

for (const [name, start] of servers) {
  describe(`S3 storage against ${name}`, () => {
    let server: S3Server | undefined;
    let client: S3Client;
    let root: string;
    let env: Record<string, string>;
    const skip = (t: TestContext) => {
      if (!server && process.env.LLM_EXPO_REQUIRE_TOOLS)
        assert.fail(`${name} not installed but LLM_EXPO_REQUIRE_TOOLS is set`);
      if (!server) t.skip(`${name} not installed (.ci/run builds it with go install)`);
      return !server;
    };

    before(async () => {
      server = await start();
      if (!server) return;
      env = server.env;
      client = testClient(env);
      // The pair in root/sft and root/dpo, the local run in root/expo.
      root = dirname(await s3Reference(env, { s3Prefix: "s3://models/pair", size: "12MiB", seed: 5, jobArgs: UNIT }));
    });

    after(async () => {
      client?.destroy();
      await server?.stop();
    });

    it("a part given as several chunks is stored as their concatenation, its checksum computed over all of them", async (t) => {
      if (skip(t)) return;
      // In this process the SDK finds its credentials where a worker's would: the environment.
      const saved = { ...process.env };
      Object.assign(process.env, env);
      t.after(() => {
        process.env = saved;
      });
      const storage = new S3Storage("s3://outputs/chunked", s3StorageSettings(server as S3Server).s3);
      const chunks = [randomBytes(1000), randomBytes(5 * 1024 * 1024), randomBytes(3), randomBytes(70_000)];
      const last = [randomBytes(12), randomBytes(34)];
      const id = await storage.createMultipart("x.bin", 0);
      const sha256 = (cs: Buffer[]) => cs.reduce((h, c) => h.update(c), createHash("sha256")).digest("hex");
      // The worker's own hash of the part signs the request in place of the SDK hashing the body again.
      const parts = [
        await storage.writePart("x.bin", id, 1, 0, chunks, sha256(chunks)),
        await storage.writePart("x.bin", id, 2, 0, last),
      ];
      if (name === "MinIO")
        await assert.rejects(storage.writePart("x.bin", id, 3, 0, last, sha256(chunks)), /SHA256|Checksum/i);
      await storage.completeMultipart("x.bin", id, parts);
      assert.deepEqual(await getObject(client, "outputs", "chunked/x.bin"), Buffer.concat([...chunks, ...last]));
      await storage.close();
    });

    it(
      name === "MinIO"
        ? "creates an object only if absent (If-None-Match: *), so the output lease is exclusive"
        : "ignores If-None-Match: a run says its output lease cannot keep two coordinators apart",
      async (t) => {
        if (skip(t) || !server) return;
        const { PutObjectCommand } = await import("@aws-sdk/client-s3");
        const put = (body: string) =>
          client
            .send(new PutObjectCommand({ Bucket: "outputs", Key: "exclusive/a.json", Body: body, IfNoneMatch: "*" }))
            .then(
              () => true,
              (e: { $metadata?: { httpStatusCode?: number } }) => {
                if (e.$metadata?.httpStatusCode === 412) return false;
                throw e;
              },
            );
        assert.equal(await put("first"), true);
        const again = await put("second");
        if (name === "MinIO") {
          assert.equal(again, false);
          assert.equal((await getObject(client, "outputs", "exclusive/a.json")).toString(), "first");
          return;
        }
        assert.equal(again, true, "s3rver overwrote it: it does not honour If-None-Match");
        const r = await runCli(
          [...jobArgs("run", "s3://models/pair/sft", "s3://models/pair/dpo", "s3://outputs/no-inm"), ...UNIT],
          env,
        );
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /ignores If-None-Match .*the output lease cannot stop a second coordinator/);
      },
    );

    it("make-example writes the same bytes to S3 as to a folder", async (t) => {
      if (skip(t)) return;
      for (const model of ["sft", "dpo"]) {
        const keys = await listKeys(client, "models", `pair/${model}/`);
        assert.deepEqual(
          keys.map((k) => k.split("/").pop()),
          readdirSync(join(root, model)).sort(),
        );
        for (const k of keys)
          assert.ok(
            (await getObject(client, "models", k)).equals(
              readFileSync(join(root, model, k.split("/").pop() as string)),
            ),
          );
      }
    });

    it("run, verify, stats and plan over S3 match the local run bit for bit", async (t) => {
      if (skip(t)) return;
      const r = await runCli(
        [...jobArgs("run", "s3://models/pair/sft", "s3://models/pair/dpo", "s3://outputs/expo"), ...UNIT],
        env,
      );
      assert.equal(r.code, 0, r.stderr);
      await assertSameAsLocal(client, join(root, "expo"), "outputs", "expo");
      const report = JSON.parse((await getObject(client, "outputs", "expo/expo-report.json")).toString());
      const localReport = JSON.parse(readFileSync(join(root, "expo", "expo-report.json"), "utf8"));
      // Part 1 carries the header (which names the input locations); every other part is the same bytes.
      const laterParts = (r: { output: { shards: Array<{ parts: Array<{ sha256: string }> }> } }) =>
        r.output.shards.map((s) => s.parts.slice(1).map((p) => p.sha256));
      assert.deepEqual(laterParts(report), laterParts(localReport));
      const v = await runCli(
        ["verify", "--base", "s3://models/pair/sft", "--aligned", "s3://models/pair/dpo", "--out", "s3://outputs/expo"],
        env,
      );
      assert.equal(v.code, 0, v.stdout + v.stderr);
      const s3Stats = await runCli(
        ["stats", "--base", "s3://models/pair/sft", "--aligned", "s3://models/pair/dpo", ...UNIT, "--json"],
        env,
      );
      const localStats = await runCli([
        "stats",
        "--base",
        join(root, "sft"),
        "--aligned",
        join(root, "dpo"),
        ...UNIT,
        "--json",
      ]);
      assert.equal(s3Stats.code, 0, s3Stats.stderr);
      assert.deepEqual(JSON.parse(s3Stats.stdout).model, JSON.parse(localStats.stdout).model);
      const p = await runCli(
        [...jobArgs("plan", "s3://models/pair/sft", "s3://models/pair/dpo", "s3://outputs/never"), "--json"],
        env,
      );
      assert.equal(p.code, 0, p.stderr);
      assert.deepEqual(await listKeys(client, "outputs", "never/"), []);
    });

    it("demo runs against S3 with --dir", async (t) => {
      if (skip(t)) return;
      const r = await runCli(["demo", "--dir", "s3://outputs/demo", "--size", "6MiB"], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /verify {6}OK/);
      assert.ok(
        (await listKeys(client, "outputs", "demo/expo-0.3/")).some((k) => k.endsWith("model.safetensors.index.json")),
      );
    });

    it("a coordinator killed mid-job resumes from its journal under the S3 output prefix; same bytes, nothing left over", async (t) => {
      if (skip(t)) return;
      const auth = { ...env, LLM_EXPO_TOKEN: "s3-journal-test" };
      const job = [
        ...jobArgs("", "s3://models/pair/sft", "s3://models/pair/dpo", "s3://outputs/resumed").slice(1),
        ...UNIT,
      ];
      const first = await startCoordinator(job, { env: auth });
      const w = startWorker(
        first.grpcPort,
        ["--concurrency", "1", "--coordinator-timeout", "30", "--inject-faults", "delay-ms=700"],
        auth,
      );
      try {
        await first.proc.waitFor((l) => l.msg === "unit done");
        first.proc.kill("SIGKILL");
        await first.proc.exited;
        const journal = await listKeys(client, "outputs", "resumed/.expo/");
        // The journal, and the output lease the killed coordinator could not release.
        assert.ok(
          journal.some((k) => /journal-\d{8}\.jsonl$/.test(k)) &&
            journal.every((k) => /(journal-\d{8}\.jsonl|lease-\d{10}\.json)$/.test(k)),
          String(journal),
        );
        const second = await startCoordinator(job, { env: auth, port: first.grpcPort, extra: ["--linger", "1"] });
        const resumed = await second.proc.waitFor((l) => l.msg.startsWith("resuming job"));
        assert.ok((resumed.unitsDone as number) >= 1);
        assert.equal((await w.exited).code, 0, w.stderr);
        assert.equal((await second.proc.exited).code, 0, second.proc.stderr);
        await assertSameAsLocal(client, join(root, "expo"), "outputs", "resumed");
        assert.deepEqual(await listKeys(client, "outputs", "resumed/.expo/"), [], "journal removed after commit");
        // s3rver does not list multipart uploads.
        if (name === "MinIO") assert.deepEqual(await openUploads(client, "outputs"), []);
      } finally {
        w.kill("SIGKILL");
      }
    });

    it("--s3-endpoint selects the server (workers started by run inherit it)", async (t) => {
      if (skip(t) || !server) return;
      const { AWS_ENDPOINT_URL: _, ...noEndpoint } = env;
      const r = await runCli(
        [
          ...jobArgs("run", "s3://models/pair/sft", "s3://models/pair/dpo", "s3://outputs/by-flag"),
          ...UNIT,
          "--s3-endpoint",
          server.endpoint,
        ],
        { ...noEndpoint, AWS_ENDPOINT_URL: "" },
      );
      assert.equal(r.code, 0, r.stderr);
      await assertSameAsLocal(client, join(root, "expo"), "outputs", "by-flag");
    });

    it("mixes local and S3 locations", async (t) => {
      if (skip(t)) return;
      const a = await runCli(
        [
          "run",
          "--base",
          join(root, "sft"),
          "--aligned",
          "s3://models/pair/dpo",
          "--alpha",
          "0.3",
          "--out",
          "s3://outputs/mixed",
          ...UNIT,
        ],
        env,
      );
      assert.equal(a.code, 0, a.stderr);
      await assertSameAsLocal(client, join(root, "expo"), "outputs", "mixed");
      const out = join(root, "mixed-local");
      const b = await runCli(
        [
          "run",
          "--base",
          "s3://models/pair/sft",
          "--aligned",
          join(root, "dpo"),
          "--alpha",
          "0.3",
          "--out",
          out,
          ...UNIT,
        ],
        env,
      );
      assert.equal(b.code, 0, b.stderr);
      for (const f of readdirSync(join(root, "expo")).filter((x) => x !== "expo-report.json")) {
        const want = readFileSync(join(root, "expo", f));
        const got = readFileSync(join(out, f));
        assert.ok(f.endsWith(".safetensors") ? dataSection(got).equals(dataSection(want)) : got.equals(want), f);
      }
      const v = await runCli(["verify", "--base", join(root, "sft"), "--aligned", join(root, "dpo"), "--out", out]);
      assert.equal(v.code, 0, v.stdout + v.stderr);
    });

    it("reads pytorch_model*.bin (sharded, with an index) from S3 by ranged reads, mixed with a folder", async (t) => {
      if (skip(t)) return;
      const fixture = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..", "test", "fixtures", "hf");
      const aligned = join(fixture, "bin-sharded", "dpo");
      for (const f of readdirSync(aligned))
        await putObject(client, "models", `bin/dpo/${f}`, readFileSync(join(aligned, f)));
      const base = join(fixture, "bin-sharded", "sft");
      const local = join(root, "bin-local");
      assert.equal((await runCli(jobArgs("run", base, aligned, local))).code, 0);
      const r = await runCli(jobArgs("run", base, "s3://models/bin/dpo", "s3://outputs/from-bin"), env);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual((await listKeys(client, "outputs", "from-bin")).map((k) => k.split("/").pop()).sort(), [
        "config.json",
        "expo-report.json",
        "generation_config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
      ]);
      await assertSameAsLocal(client, local, "outputs", "from-bin");
    });

    it("refuses missing buckets and prefixes, absent or wrong credentials: exit 2, one line", async (t) => {
      if (skip(t)) return;
      const args = (base: string, out = "s3://outputs/err") => [...jobArgs("run", base, "s3://models/pair/dpo", out)];
      const missingBucket = await runCli(args("s3://no-such-bucket/pair/sft"), env);
      assert.equal(missingBucket.code, 2);
      assert.match(oneLineError(missingBucket.stderr), /s3:\/\/no-such-bucket.*bucket does not exist/);
      const missingPrefix = await runCli(args("s3://models/nothing-here"), env);
      assert.equal(missingPrefix.code, 2);
      assert.match(oneLineError(missingPrefix.stderr), /s3:\/\/models\/nothing-here: base checkpoint not found/);
      const noCreds = await runCli(args("s3://models/pair/sft"), {
        AWS_ENDPOINT_URL: env.AWS_ENDPOINT_URL as string,
        AWS_ACCESS_KEY_ID: "",
        AWS_SECRET_ACCESS_KEY: "",
        AWS_PROFILE: "",
        AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/credentials",
        AWS_CONFIG_FILE: "/nonexistent/config",
        AWS_EC2_METADATA_DISABLED: "true",
      });
      assert.equal(noCreds.code, 2);
      assert.match(oneLineError(noCreds.stderr), /no S3 credentials found/);
      const wrong = await runCli(args("s3://models/pair/sft"), {
        ...env,
        AWS_ACCESS_KEY_ID: "WRONGKEY",
        AWS_SECRET_ACCESS_KEY: "definitely-wrong",
      });
      assert.equal(wrong.code, 2);
      assert.match(oneLineError(wrong.stderr), /credentials rejected|access denied/);
      assert.deepEqual(await listKeys(client, "outputs", "err/"), []);
    });

    it("read-only credentials on the output: exit 2 before writing, no upload left open", async (t) => {
      if (skip(t)) return;
      if (!server?.readOnlyEnv) return t.skip(`${name} has no per-user permissions`);
      const r = await runCli(
        [...jobArgs("run", "s3://models/pair/sft", "s3://models/pair/dpo", "s3://outputs/ro")],
        server.readOnlyEnv,
      );
      assert.equal(r.code, 2, r.stderr);
      // The plan summary is logged first; the error is the one line that follows it.
      const last = r.stderr.trim().split("\n").pop() as string;
      assert.match(last, /^llm-expo: s3:\/\/outputs\/ro.*access denied/);
      assert.deepEqual(await listKeys(client, "outputs", "ro/"), []);
      assert.deepEqual(await openUploads(client, "outputs"), []);
    });

    it("completes with identical output through connection resets, cut bodies and 503 SlowDown", async (t) => {
      if (skip(t)) return;
      const proxy = await startFaultProxy({ target: server?.endpoint as string, budget: 14, rate: 0.3, seed: 11 });
      try {
        const r = await runCli(
          [...jobArgs("run", "s3://models/pair/sft", "s3://models/pair/dpo", "s3://outputs/faulty"), ...UNIT],
          { ...env, AWS_ENDPOINT_URL: proxy.endpoint },
        );
        assert.equal(r.code, 0, r.stderr);
        const injected = proxy.faults.slowDown + proxy.faults.reset + proxy.faults.cut;
        assert.ok(injected >= 5, `faults injected: ${JSON.stringify(proxy.faults)}`);
      } finally {
        await proxy.close();
      }
      await assertSameAsLocal(client, join(root, "expo"), "outputs", "faulty");
    });

    it("an input object replaced mid-job fails the job naming it: nothing left at the output, uploads aborted", async (t) => {
      if (skip(t)) return;
      if (name !== "MinIO") return t.skip("s3rver does not implement If-Match");
      const made = await runCli(["make-example", "s3://models/victim", "--size", "12MiB", "--seed", "9"], env);
      assert.equal(made.code, 0, made.stderr);
      const shards = (await listKeys(client, "models", "victim/dpo/")).filter((k) => k.endsWith(".safetensors"));
      const victim = shards[1] as string;
      let replaced = false;
      const proxy = await startFaultProxy({
        target: server?.endpoint as string,
        budget: 0,
        rate: 0,
        seed: 1,
        onRequest: async (req) => {
          if (!replaced && req.method === "GET" && req.headers.range && req.url?.includes(victim)) {
            replaced = true;
            const bytes = await getObject(client, "models", victim);
            bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;
            await putObject(client, "models", victim, bytes);
          }
        },
      });
      try {
        const r = await runCli(
          [...jobArgs("run", "s3://models/victim/sft", "s3://models/victim/dpo", "s3://outputs/victim"), ...UNIT],
          { ...env, AWS_ENDPOINT_URL: proxy.endpoint },
        );
        assert.equal(r.code, 1, r.stderr);
        const last = r.stderr.trim().split("\n").pop() as string;
        assert.ok(last.includes(`s3://models/${victim}`) && last.includes("changed since the job was planned"), last);
      } finally {
        await proxy.close();
      }
      assert.ok(replaced);
      // A failed job leaves nothing at the output: no index, no shard, no journal object, no upload open.
      assert.deepEqual(await listKeys(client, "outputs", "victim/"), []);
      assert.deepEqual(await openUploads(client, "outputs"), []);
    });
  });
}
