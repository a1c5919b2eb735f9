/** Compiles a tensor-name glob (`*` any run of characters, `?` one character) to a full-match RegExp. */
export function compileGlob(pattern: string): RegExp {
  const body = pattern
    .split("")
    .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
    .join("");
  return new RegExp(`^${body}$`);
}
