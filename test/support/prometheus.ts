// A real Prometheus server (Debian's package; .ci/run unpacks it into ~/.cache/llm-expo/bin) with
// a temporary config scraping the given targets every second, and its HTTP query API.
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { findTool } from "../../harness/minioAdmin.js";
import { tempDir } from "./tempDir.js";

export const PROMETHEUS = findTool("PROMETHEUS_BIN", "prometheus");
export const PROMTOOL = findTool("PROMTOOL_BIN", "promtool");

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export class Prometheus {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly log: () => string,
  ) {}

  static async start(targets: string[]): Promise<Prometheus> {
    if (!PROMETHEUS) throw new Error("prometheus not installed (.ci/run unpacks Debian's package)");
    const dir = await tempDir("llm-expo-prometheus-");
    const config = join(dir, "prometheus.yml");
    writeFileSync(
      config,
      [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 900ms",
        "scrape_configs:",
        "  - job_name: llm-expo",
        "    static_configs:",
        `      - targets: [${targets.map((t) => `'${t}'`).join(", ")}]`,
        "",
      ].join("\n"),
    );
    const port = await freePort();
    const child = spawn(
      PROMETHEUS,
      [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let log = "";
    child.stderr?.on("data", (d) => {
      log += d;
    });
    const p = new Prometheus(child, `http://127.0.0.1:${port}`, () => log);
    for (let i = 0; i < 200; i++) {
      if (
        await fetch(`${p.url}/-/ready`).then(
          (r) => r.ok,
          () => false,
        )
      )
        return p;
      await sleep(50);
    }
    p.stop();
    throw new Error(`prometheus did not become ready:\n${log}`);
  }

  /** An instant query's samples: labels and value. */
  async query(expr: string): Promise<Array<{ metric: Record<string, string>; value: number }>> {
    const r = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await r.json()) as {
      status: string;
      error?: string;
      data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
    };
    if (body.status !== "success") throw new Error(`${expr}: ${body.error}`);
    return body.data.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
  }

  stop(): void {
    this.child.kill("SIGKILL");
  }
}
