// Before anything is written: the --evaluate command must parse (sh -n) and the program it runs must be
// there and executable. The program is the command's first word after any VAR=value assignments; a shell
// keyword or builtin (if, (, exec, …) or a word the shell expands ($VAR) is left for the shell to judge.
import { spawnSync } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { UsageError } from "../core/errors.js";

const SHELL_WORDS = new Set([
  "!",
  "{",
  "(",
  ".",
  ":",
  "[",
  "case",
  "cd",
  "command",
  "eval",
  "exec",
  "export",
  "for",
  "if",
  "set",
  "source",
  "test",
  "until",
  "while",
]);

/** Throws a UsageError naming the problem; `command` has {model} and {alpha} replaced already. */
export function checkEvaluator(command: string, env: NodeJS.ProcessEnv, cwd = process.cwd()): void {
  if (command.trim() === "") throw new UsageError("--evaluate: the command is empty");
  const syntax = spawnSync("/bin/sh", ["-n", "-c", command], { encoding: "utf8", env });
  if (syntax.error) throw new UsageError(`--evaluate: cannot run /bin/sh (${syntax.error.message})`);
  if (syntax.status !== 0) {
    const why = syntax.stderr.trim().split("\n").at(-1) ?? `exit status ${syntax.status}`;
    throw new UsageError(`--evaluate: not a valid shell command (${why})`);
  }
  const program = firstWord(command);
  if (program === undefined || SHELL_WORDS.has(program) || program.includes("$") || program.includes("`")) return;
  if (program.includes("/")) {
    const path = program.startsWith("~/") ? join(env.HOME ?? "~", program.slice(2)) : resolve(cwd, program);
    if (!isExecutableFile(path)) {
      throw new UsageError(
        `--evaluate: ${program} is not an executable file${isAbsolute(program) ? "" : ` (${path})`}`,
      );
    }
    return;
  }
  const dirs = (env.PATH ?? "").split(":").filter((d) => d !== "");
  if (!dirs.some((d) => isExecutableFile(join(d, program)))) {
    throw new UsageError(`--evaluate: ${program}: no such program on PATH`);
  }
}

/** The first word the shell would run, unquoted; undefined when it starts with something else (a redirect). */
function firstWord(command: string): string | undefined {
  let rest = command.trimStart();
  for (;;) {
    const { word, after } = readWord(rest);
    if (word === undefined) return undefined;
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(word)) {
      rest = after.trimStart();
      continue;
    }
    return word;
  }
}

function readWord(text: string): { word?: string; after: string } {
  if (text === "" || /^[;&|<>]/.test(text)) return { after: text };
  if (text[0] === "(" || text[0] === "{" || text[0] === "!") return { word: text[0], after: text.slice(1) };
  let word = "";
  let i = 0;
  while (i < text.length && !/[\s;&|<>()]/.test(text[i] as string)) {
    const c = text[i] as string;
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) return { after: "" };
      word += text.slice(i + 1, end);
      i = end + 1;
    } else if (c === "\\" && i + 1 < text.length) {
      word += text[i + 1];
      i += 2;
    } else {
      word += c;
      i++;
    }
  }
  return { word, after: text.slice(i) };
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
