// `npm run test:stress`: the test suite, as `npm test` runs it (node --test, one file at a time), with two
// CPU-bound processes spinning beside it for the whole run, as on a build machine shared with other work.
// Tests assert outcomes and wait on readiness, never on timing: they must pass like this too.
// Exits with the suite's status; the busy processes go with it.
import { spawn } from "node:child_process";

const BUSY = 2;
const busy = Array.from({ length: BUSY }, () =>
  spawn(process.execPath, ["-e", "for (;;) Math.sqrt(Math.random());"], { stdio: "ignore" }),
);
const stopBusy = () => {
  for (const b of busy) b.kill("SIGKILL");
};
process.stderr.write(
  `test:stress: ${BUSY} busy processes (pids ${busy.map((b) => b.pid).join(", ")}) beside the suite\n`,
);
const suite = spawn(process.execPath, ["--test", "--test-concurrency=1", "dist/test/"], { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    suite.kill(signal);
    stopBusy();
  });
}
suite.on("exit", (code, signal) => {
  stopBusy();
  process.exitCode = code ?? (signal ? 1 : 0);
});
