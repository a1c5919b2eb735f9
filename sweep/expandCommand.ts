// The evaluator's command line for one model: {model} and {alpha} replaced. Values that are not plain
// words for the shell (a path with a space, a quote, $) are single-quoted, so the shell passes them through
// as one argument; plain paths, s3:// locations and numbers are inserted as they are.

const PLAIN = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function expandCommand(template: string, values: { model: string; alpha: number }): string {
  return template.replaceAll("{model}", shellWord(values.model)).replaceAll("{alpha}", shellWord(String(values.alpha)));
}

function shellWord(value: string): string {
  return PLAIN.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}
