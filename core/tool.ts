/** Who wrote an output or a journal: recorded in headers, reports and journals. */
export const TOOL = { name: "llm-expo", version: "0.1.0" } as const;
