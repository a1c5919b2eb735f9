// An HTTP proxy between the S3 client and a real server that injects faults: 503 SlowDown answers,
// connections reset before a response, and responses cut off mid-body. A bounded number of faults,
// drawn from a seeded generator, so a run is reproducible and always able to finish.
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FaultProxy {
  endpoint: string;
  faults: { slowDown: number; reset: number; cut: number };
  requests: number;
  /** Changes the chance of a fault from now on (0: none); the budget still bounds the total. */
  setRate(rate: number): void;
  close(): Promise<void>;
}

export interface FaultOptions {
  target: string;
  /** Most faults injected in all. */
  budget: number;
  /** Chance that a request gets a fault while budget remains. */
  rate: number;
  seed: number;
  /** Runs before a request is forwarded (may act on the server, e.g. replace an object). */
  onRequest?: (req: IncomingMessage) => Promise<void> | void;
}

export async function startFaultProxy(options: FaultOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  let state = options.seed >>> 0 || 1;
  const random = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  let rate = options.rate;
  const proxy: FaultProxy = {
    endpoint: "",
    faults: { slowDown: 0, reset: 0, cut: 0 },
    requests: 0,
    setRate: (r) => {
      rate = r;
    },
    close: async () => {},
  };
  const budgetLeft = () => options.budget - proxy.faults.slowDown - proxy.faults.reset - proxy.faults.cut;
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    proxy.requests++;
    await options.onRequest?.(req);
    const fault = budgetLeft() > 0 && random() < rate ? Math.floor(random() * 3) : -1;
    if (fault === 0) {
      proxy.faults.slowDown++;
      req.resume();
      res.writeHead(503, { "Content-Type": "application/xml" });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
      );
      return;
    }
    if (fault === 1) {
      proxy.faults.reset++;
      req.socket.destroy();
      return;
    }
    const upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        const length = Number(up.headers["content-length"] ?? 0);
        if (fault === 2 && req.method === "GET" && length > 1024) {
          proxy.faults.cut++;
          let sent = 0;
          up.on("data", (chunk: Buffer) => {
            if (sent + chunk.length >= length / 2) {
              res.write(chunk.subarray(0, Math.max(0, Math.floor(length / 2) - sent)));
              up.destroy();
              res.socket?.destroy();
              return;
            }
            sent += chunk.length;
            res.write(chunk);
          });
          return;
        }
        up.pipe(res);
      },
    );
    upstream.on("error", () => res.socket?.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}
