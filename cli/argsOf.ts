import type { ArgumentsCamelCase, Argv } from "yargs";

/** The options a builder declares, as yargs infers them: handlers are typed from the declarations. */
export type OptionsOf<B extends (...args: never[]) => unknown> = ReturnType<B> extends Argv<infer T> ? T : never;

/** The parsed arguments of those options, camel-cased, as a handler receives them. */
export type ArgsOf<B extends (...args: never[]) => unknown> = ArgumentsCamelCase<OptionsOf<B>>;
